"""Staff screens for integration support: the health of every external system, and one
system with its recent runs, its dead letters and the actions that unblock it.

Thin: reads come from `connectors.selectors`, writes go through `integrations.services`
(which record who did what and why), and a domain error becomes a message.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from connectors import selectors
from integrations import services
from integrations.models import ExternalSystem
from retailops.screens import act_and_report

VIEW = "integrations.view_externalsystem"
CHANGE = "integrations.change_externalsystem"
DEAD_LETTERS_PAGE_SIZE = 25


@require_GET
@login_required
@permission_required(VIEW, raise_exception=True)
def health(request):
    rows = selectors.system_health()
    return render(request, "integrations/health.html", {
        "rows": rows,
        "window_hours": int(selectors.HEALTH_WINDOW.total_seconds() // 3600),
        "totals": {
            "backlog": sum(row.backlog for row in rows),
            "dead_letters": sum(row.dead_letters for row in rows),
            "open_circuits": sum(row.system.circuit_state != ExternalSystem.Circuit.CLOSED for row in rows),
            "paused": sum(row.system.paused for row in rows),
            "lagging": sum(row.is_lagging for row in rows),
        },
    })


def _system(code: str) -> ExternalSystem:
    try:
        return selectors.system_by_code(code=code)
    except ExternalSystem.DoesNotExist as exc:
        raise Http404("No such external system.") from exc


@require_GET
@login_required
@permission_required(VIEW, raise_exception=True)
def system_detail(request, code: str):
    system = _system(code)
    [health] = selectors.system_health(systems=ExternalSystem.objects.filter(pk=system.pk))
    page = Paginator(selectors.dead_letters_for(system=system), DEAD_LETTERS_PAGE_SIZE).get_page(
        request.GET.get("page"))
    selectors.label_availability_levels(page.object_list)
    return render(request, "integrations/system.html", {
        "system": health.system,
        "health": health,
        "window_hours": int(selectors.HEALTH_WINDOW.total_seconds() // 3600),
        "runs": selectors.recent_runs_for(system=system),
        "page": page,
        "actions": selectors.recent_actions_for(system=system),
        "can_change": request.user.has_perm(CHANGE),
    })


def _message_ids(request) -> list[int]:
    return [int(value) for value in request.POST.getlist("message") if value.isdigit()]


def _done(request, system: ExternalSystem):
    return redirect("integrations:system", code=system.code)


@require_POST
@login_required
@permission_required(CHANGE, raise_exception=True)
def replay_selected(request, code: str):
    """Replay the chosen dead letters of this system (one, from a row, or many)."""
    system = _system(code)
    ids = _message_ids(request)
    if not ids:
        messages.error(request, "Select at least one dead letter to replay.")
        return _done(request, system)
    replayed = services.outbox_replay(message_ids=ids, system=system, actor=request.user,
                                      note=request.POST.get("note", ""))
    _replayed_message(request, replayed, asked=len(ids))
    return _done(request, system)


@require_POST
@login_required
@permission_required(CHANGE, raise_exception=True)
def replay_all(request, code: str):
    system = _system(code)
    replayed = services.outbox_replay(system=system, actor=request.user, note=request.POST.get("note", ""))
    _replayed_message(request, replayed, asked=None)
    return _done(request, system)


def _replayed_message(request, replayed: int, *, asked: int | None) -> None:
    if not replayed:
        messages.warning(request, "Nothing was replayed: those messages are no longer dead letters.")
        return
    text = f"{replayed} dead letter{'s' if replayed != 1 else ''} queued for delivery again."
    if asked is not None and replayed < asked:
        text += f" {asked - replayed} had already left the dead letters."
    messages.success(request, text)


def _pause_or_resume(request, code: str, action, done: str):
    system = _system(code)
    act_and_report(request, lambda: action(system=system, actor=request.user, note=request.POST.get("note", "")),
                   done=done.format(code=system.code))
    return _done(request, system)


@require_POST
@login_required
@permission_required(CHANGE, raise_exception=True)
def system_pause(request, code: str):
    return _pause_or_resume(request, code, services.external_system_pause,
                            "{code} is paused: messages wait in the outbox until you resume it.")


@require_POST
@login_required
@permission_required(CHANGE, raise_exception=True)
def system_resume(request, code: str):
    return _pause_or_resume(request, code, services.external_system_resume,
                            "{code} is resumed and its circuit closed: waiting messages go out now.")
