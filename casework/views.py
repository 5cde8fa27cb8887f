"""Staff screens for cases: the queues people triage all day, and the case detail.

Thin: read through `exceptions.selectors` (scoped to the caller's locations), write
through `exceptions.services`, turn domain errors into messages. Every filter lives in
the URL, so a queue view can be bookmarked and shared.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from casework import actions
from casework.selectors import case_subject_context
from exceptions import selectors, services
from exceptions.models import Case
from exceptions.priority import PRIORITY_BANDS, band_of
from exceptions.states import PERSON_ROOT_CAUSES, CaseKind, Queue, RootCause
from orders.callers import Caller
from retailops.access import location_scope
from retailops.errors import DomainError
from retailops.roles import Role, role_of
from retailops.screens import act_and_report

PAGE_SIZE = 50
VIEW = "exceptions.view_case"
WORK = "exceptions.change_case"

# The queue each role lands on; "" is every team (scoped to the caller's locations).
HOME_QUEUE = {
    Role.INVENTORY_CONTROL: Queue.INVENTORY_CONTROL,
    Role.FINANCE: Queue.FINANCE,
    Role.INTEGRATION_SUPPORT: Queue.INTEGRATION,
    Role.STORE_OPS: "",
    Role.OPS_ADMIN: "",
}
ALL_TEAMS = "all"


class QueueFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *CaseKind.choices])
    status = forms.ChoiceField(required=False, choices=selectors.STATUS_FILTERS)
    location = forms.CharField(required=False, max_length=64, label="Location code")
    assignee = forms.ChoiceField(required=False, choices=[
        ("", "Anyone"), (selectors.ASSIGNEE_ME, "Me"), (selectors.ASSIGNEE_NOBODY, "Unassigned")])
    age = forms.ChoiceField(required=False, label="Age", choices=[
        ("", "Any age"), *[(value, label) for value, label, _ in selectors.AGE_FILTERS],
        (selectors.AGE_OVERDUE, "Past its SLA")])
    band = forms.ChoiceField(required=False, label="Priority", choices=[
        ("", "Any priority"), *[(band, band.capitalize()) for band, _floor in PRIORITY_BANDS]])

    def filters(self, *, queue: str, mine: bool) -> selectors.QueueFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.QueueFilters(
            queue=queue, mine=mine, kind=data.get("kind", ""), status=data.get("status") or selectors.STATUS_ACTIVE,
            location=(data.get("location") or "").strip(), assignee=data.get("assignee", ""),
            age=data.get("age", ""), band=data.get("band", ""),
        )


@login_required
@permission_required(VIEW, raise_exception=True)
def case_index(request):
    """The queue a person works by default: their team's (a store's cases for store ops)."""
    team = HOME_QUEUE.get(role_of(request.user), "") or ALL_TEAMS
    url = reverse("cases:queue", args=[team])
    if request.GET:
        url += "?" + request.GET.urlencode()
    return redirect(url)


@login_required
@permission_required(VIEW, raise_exception=True)
def case_queue(request, team: str):
    if team != ALL_TEAMS and team not in Queue.values:
        raise Http404("No such queue.")
    return _queue_page(request, queue="" if team == ALL_TEAMS else team, mine=False, team=team)


@login_required
@permission_required(VIEW, raise_exception=True)
def my_cases(request):
    return _queue_page(request, queue="", mine=True, team="mine")


def _queue_page(request, *, queue: str, mine: bool, team: str):
    scope = location_scope(request)
    form = QueueFilterForm(request.GET or None)
    filters = form.filters(queue=queue, mine=mine)
    cases = selectors.queue_cases(scope=scope, user=request.user, filters=filters)
    summary = selectors.queue_summary(scope=scope, user=request.user, filters=filters)
    paginator = Paginator(cases, PAGE_SIZE)
    if filters.is_whole_queue:
        paginator.count = summary.total  # already counted: spare the page a second scan
    page = paginator.get_page(request.GET.get("page"))
    can_work = request.user.has_perm(WORK)
    teammates = (selectors.assignee_choices(queue=queue) if can_work and queue and scope.is_all
                 else [])
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "exceptions/queue.html", {
        "form": form,
        "page": page,
        "rows": [(case, band_of(case.priority)) for case in page.object_list],
        "summary": summary,
        "team": team,
        "teams": [(ALL_TEAMS, "All teams"), *Queue.choices],
        "heading": "My cases" if mine else dict(Queue.choices).get(queue, "All teams"),
        "filter_query": query.urlencode(),
        "can_work": can_work,
        "teammates": teammates,
        "root_causes": PERSON_ROOT_CAUSES,
        "scoped": not scope.is_all,
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def case_detail(request, case_id: int):
    case = _visible_case(request, case_id)
    return render(request, "exceptions/detail.html", {
        "case": case,
        "band": band_of(case.priority),
        "activity": selectors.case_activity(case),
        "subject": case_subject_context(case),
        "assignees": selectors.assignee_choices(queue=case.queue, location_id=case.location_id),
        "root_causes": _root_causes_for(case),
        "can_work": request.user.has_perm(WORK),
        "actions": actions.actions_for(case, caller=Caller.from_request(request)),
        "adjustment_form": CaseAdjustmentForm(),
        "replay_all_batch": actions.REPLAY_ALL_BATCH,
    })


def _root_causes_for(case: Case):
    if case.condition_cleared_at is not None:
        return [(RootCause.CONDITION_CLEARED.value, "Condition cleared (confirm)"), *PERSON_ROOT_CAUSES]
    return PERSON_ROOT_CAUSES


def _visible_case(request, case_id: int) -> Case:
    try:
        return selectors.case_detail(scope=location_scope(request), case_id=case_id)
    except Case.DoesNotExist as exc:
        raise Http404("No such case.") from exc


def _back(request, case: Case | None = None):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return HttpResponseRedirect(target)
    if case is not None:
        return redirect("cases:detail", case_id=case.pk)
    return redirect("cases:index")


def _act(request, case_id: int, action, success: str):
    """Run one service on a visible case; a domain error becomes a message."""
    case = _visible_case(request, case_id)
    _result, done = act_and_report(request, lambda: action(case), done=success.format(case=case))
    return case, done


@require_POST
@login_required
@permission_required(WORK, raise_exception=True)
def case_assign(request, case_id: int):
    wanted = request.POST.get("assignee", "me")
    if wanted == "me":
        assignee = request.user
    else:
        assignee = get_user_model().objects.filter(pk=wanted if wanted.isdigit() else None).first()
        if assignee is None:
            messages.error(request, "Pick someone to assign the case to.")
            return _back(request, _visible_case(request, case_id))
    case, done = _act(request, case_id, lambda case: services.case_assign(
        case=case, assignee=assignee, actor=request.user, note=request.POST.get("note", "")),
        f"Case #{{case.pk}} assigned to {assignee.get_username()}.")
    if request.htmx and request.POST.get("row"):
        case = _visible_case(request, case_id)
        return render(request, "exceptions/_case_row.html", {
            "case": case, "band": band_of(case.priority), "can_work": True, "just_taken": done})
    return _back(request, case)


@require_POST
@login_required
@permission_required(WORK, raise_exception=True)
def case_start(request, case_id: int):
    case, _done = _act(request, case_id, lambda case: services.case_start(case=case, actor=request.user),
                       "Work started on case #{case.pk}.")
    return _back(request, case)


@require_POST
@login_required
@permission_required(WORK, raise_exception=True)
def case_resolve(request, case_id: int):
    case, done = _act(request, case_id, lambda case: services.case_resolve(
        case=case, actor=request.user, root_cause=request.POST.get("root_cause", ""),
        note=request.POST.get("note", "")), "Case #{case.pk} resolved.")
    return _back(request, case) if done else redirect("cases:detail", case_id=case.pk)


@require_POST
@login_required
@permission_required(WORK, raise_exception=True)
def case_dismiss(request, case_id: int):
    case, done = _act(request, case_id, lambda case: services.case_dismiss(
        case=case, actor=request.user, reason=request.POST.get("reason", "")), "Case #{case.pk} dismissed.")
    return _back(request, case) if done else redirect("cases:detail", case_id=case.pk)


@require_POST
@login_required
@permission_required(WORK, raise_exception=True)
def case_comment(request, case_id: int):
    case, _done = _act(request, case_id, lambda case: services.case_comment(
        case=case, author=request.user, body=request.POST.get("body", "")), "Comment added.")
    return redirect("cases:detail", case_id=case.pk)


@require_POST
@login_required
@permission_required(WORK, raise_exception=True)
def cases_bulk(request):
    """Bulk assign or resolve the selected cases; only cases the caller may see count."""
    wanted = [value for value in request.POST.getlist("case") if value.isdigit()]
    ids = list(selectors.cases_for(scope=location_scope(request)).filter(pk__in=wanted).values_list("pk", flat=True))
    if not ids:
        messages.error(request, "Select at least one case first.")
        return _back(request)
    action = request.POST.get("action")
    try:
        if action == "assign":
            wanted_assignee = request.POST.get("assignee", "me")
            assignee = (request.user if wanted_assignee == "me"
                        else get_user_model().objects.filter(pk=wanted_assignee if wanted_assignee.isdigit()
                                                             else None).first())
            if assignee is None:
                messages.error(request, "Pick someone to assign the cases to.")
                return _back(request)
            count = services.cases_bulk_assign(case_ids=ids, assignee=assignee, actor=request.user)
            messages.success(request, f"{count} case(s) assigned to {assignee.get_username()}.")
        elif action == "resolve":
            count = services.cases_bulk_resolve(case_ids=ids, actor=request.user,
                                                root_cause=request.POST.get("root_cause", ""),
                                                note=request.POST.get("note", ""))
            messages.success(request, f"{count} case(s) resolved.")
        else:
            messages.error(request, "Pick an action.")
    except DomainError as error:
        messages.error(request, error.detail)
    return _back(request)


# --- Resolution actions: the work goes through the owning app's service, and the case's
# activity records who did what and why (see `casework.actions`). -----------------------


class CaseAdjustmentForm(forms.Form):
    delta = forms.IntegerField(label="Change of on-hand (+/−)")
    reason = forms.ChoiceField(choices=[])
    note = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [("", "Choose…"), *[(reason, reason.replace("_", " ").capitalize())
                                                            for reason in settings.ADJUSTMENT_REASONS]]


def _resolution(request, case_id: int, work, describe, level=None):
    """Run one resolution action on a visible case: its outcome and domain errors become messages."""
    case = _visible_case(request, case_id)
    act_and_report(request, lambda: work(case), done=describe, level=level)
    return redirect("cases:detail", case_id=case.pk)


@require_POST
@login_required
@permission_required([WORK, actions.ADJUST_PERMISSION], raise_exception=True)
def case_adjustment_request(request, case_id: int):
    form = CaseAdjustmentForm(request.POST)
    if not form.is_valid():
        _visible_case(request, case_id)
        messages.error(request, " ".join(f"{form.fields[name].label or name.capitalize()}: {' '.join(errors)}"
                                         for name, errors in form.errors.items()))
        return redirect("cases:detail", case_id=case_id)
    return _resolution(request, case_id, lambda case: actions.case_adjustment_request(
        case=case, actor=request.user, scope=location_scope(request), **form.cleaned_data),
        lambda adjustment: f"Adjustment #{adjustment.pk} requested: {adjustment.get_status_display().lower()}.")


@require_POST
@login_required
@permission_required([WORK, actions.REPLAY_PERMISSION], raise_exception=True)
def case_event_replay(request, case_id: int):
    return _resolution(request, case_id, lambda case: actions.case_event_replay(
        case=case, actor=request.user, scope=location_scope(request), note=request.POST.get("note", "")),
        lambda event: (f"Event {event.event_id} replayed: {event.get_status_display().lower()}"
                       + (f" ({event.error_detail})" if event.error_detail else "") + "."))


@require_POST
@login_required
@permission_required([WORK, actions.REPLAY_PERMISSION], raise_exception=True)
def case_events_replay_all(request, case_id: int):
    return _resolution(request, case_id, lambda case: actions.case_events_replay_all(
        case=case, actor=request.user, scope=location_scope(request), note=request.POST.get("note", "")),
        lambda outcome: outcome.summary(),
        level=lambda outcome: messages.SUCCESS if outcome.complete else messages.WARNING)


@require_POST
@login_required
@permission_required([WORK, actions.RELEASE_PERMISSION], raise_exception=True)
def case_reservation_release(request, case_id: int):
    wanted = request.POST.get("reservation", "")
    return _resolution(request, case_id, lambda case: actions.case_reservation_release(
        case=case, caller=Caller.from_request(request), reservation_id=int(wanted) if wanted.isdigit() else 0,
        note=request.POST.get("note", "")), lambda hold: f"Reservation {hold.pk} released.")


@require_POST
@login_required
@permission_required([WORK, actions.RECOUNT_PERMISSION], raise_exception=True)
def case_recount_open(request, case_id: int):
    return _resolution(request, case_id, lambda case: actions.case_recount_open(
        case=case, actor=request.user, scope=location_scope(request), note=request.POST.get("note", "")),
        lambda count: f"Recount #{count.pk} scheduled.")


@require_POST
@login_required
@permission_required([WORK, actions.REALLOCATE_PERMISSION], raise_exception=True)
def case_order_reallocate(request, case_id: int):
    return _resolution(request, case_id, lambda case: actions.case_order_reallocate(
        case=case, caller=Caller.from_request(request), from_location_code=request.POST.get("from_location", ""),
        reason=request.POST.get("reason", "")),
        lambda order: f"Order {order.external_id} re-sourced away from {request.POST.get('from_location', '')}.")
