"""Staff screens for reconciliation review: the runs, a run's lines (filters, bulk actions,
CSV export), one line explained by the ledger around the snapshot's time, the actions, and
the upload of a system's snapshot as a CSV file.

Thin, like the other screens: reads come from `reconciliation.selectors`, scoped to the
caller (a line outside a store user's locations is a 404), writes go through
`reconciliation.review`, and a domain error becomes a message in the app's layout.
"""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.models import InventorySnapshot
from integrations.selectors import snapshot_upload_systems
from integrations.snapshot_formats import CsvSnapshot
from reconciliation import review, selectors, services
from reconciliation.forms import RUN_STATUS_WORDS, DecideForm, LineFilterForm, RunFilterForm, SnapshotUploadForm
from reconciliation.models import ReconciliationLine, ReconciliationRun
from reconciliation.states import DECISION_TRANSITIONS, Classification, Decision, RunStatus
from retailops.access import location_scope
from retailops.replica import replica_reads
from retailops.screens import act_and_report, form_problems

VIEW = "reconciliation.view_reconciliationrun"
DECIDE = review.DECIDE_PERMISSION
UPLOAD = "integrations.add_inventorysnapshot"
RUNS_PER_PAGE = 25
LINES_PER_PAGE = 50
CSV_COLUMNS = ["sku", "location", "snapshot_on_hand", "ledger_on_hand_at_as_of", "ledger_on_hand_now", "difference",
               "classification", "unit_cost", "value", "decision", "decided_by", "decided_at"]


def _staff(permission: str, *, post: bool = False):
    """login, then the permission (403 without it), and POST only for actions."""

    def decorate(view):
        view = login_required(permission_required(permission, raise_exception=True)(view))
        return require_POST(view) if post else view

    return decorate


def _run_or_404(run_id: int) -> ReconciliationRun:
    try:
        return selectors.run_by_id(run_id)
    except ReconciliationRun.DoesNotExist:
        raise Http404("No such reconciliation.") from None


# --- Runs -------------------------------------------------------------------------------------------


@require_GET
@_staff(VIEW)
def run_list(request):
    scope = location_scope(request)
    form = RunFilterForm(request.GET, systems=selectors.run_systems())
    page = Paginator(selectors.runs_list(**form.filters()), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    runs = list(page.object_list)
    figures = selectors.run_figures(runs, scope=scope)
    return render(request, "reconciliation/runs.html", {
        "form": form, "page": page, "scoped": not scope.is_all,
        "rows": [{"run": run, "figures": figures[run.pk], "status": RUN_STATUS_WORDS.get(run.status, run.status)}
                 for run in runs],
    })


@require_GET
@_staff(VIEW)
def run_detail(request, run_id: int):
    scope = location_scope(request)
    run = _run_or_404(run_id)
    form = LineFilterForm(request.GET)
    lines = selectors.lines_with_decisions(selectors.lines_for(run=run, scope=scope, filters=form.line_filter()))
    page = Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page"))
    can_decide = request.user.has_perm(DECIDE) and run.status == RunStatus.REVIEW
    rows = [{"line": line, "decidable": can_decide and _decidable(line), "last_decision": _last_decision(line)}
            for line in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reconciliation/run_detail.html", {
        "run": run, "status": RUN_STATUS_WORDS.get(run.status, run.status), "form": form, "page": page,
        "rows": rows, "figures": selectors.run_figures([run], scope=scope)[run.pk],
        "can_decide": can_decide, "any_decidable": any(row["decidable"] for row in rows),
        "filter_query": query.urlencode(), "scoped": not scope.is_all,
        "recent": selectors.decisions_recent(run=run, scope=scope),
        "history": [{"entry": entry, "status": RUN_STATUS_WORDS.get(entry.status, entry.status)}
                    for entry in selectors.run_history(run)],
    })


def _last_decision(line: ReconciliationLine):
    """The line's latest decision (its decisions are prefetched), or None."""
    decisions = list(line.decisions.all())
    return decisions[-1] if decisions else None


def _decidable(line: ReconciliationLine) -> bool:
    return line.classification == Classification.VARIANCE and bool(DECISION_TRANSITIONS.get(line.decision))


class _Echo:
    """A file that hands back what is written to it: csv.writer's rows, one at a time."""

    def write(self, value: str) -> str:
        return value


@require_GET
@_staff(VIEW)
@replica_reads()
def run_export(request, run_id: int):
    """The run's lines as CSV, with the screen's filters, streamed row by row."""
    run = _run_or_404(run_id)
    filters = LineFilterForm(request.GET).line_filter()
    lines = selectors.lines_for(run=run, scope=location_scope(request), filters=filters)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for line in lines.iterator(chunk_size=2000):
            yield writer.writerow([
                line.sku_code, line.location_code, line.snapshot_on_hand, _blank(line.ledger_on_hand_at_as_of),
                _blank(line.ledger_on_hand_now), _blank(line.difference), line.classification,
                _blank(line.unit_cost), line.value, line.decision,
                line.decided_by.get_username() if line.decided_by else "",
                line.decided_at.isoformat() if line.decided_at else "",
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reconciliation-{run.pk}-lines.csv"'
    return response


def _blank(value) -> str:
    return "" if value is None else str(value)


# --- Uploading a snapshot ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@_staff(UPLOAD)
def snapshot_upload(request):
    """A system's snapshot as a CSV file, stored through the one intake and queued for a
    run; then the run. The file is read as a stream (Django keeps a large upload in a
    temporary file, FILE_UPLOAD_MAX_MEMORY_SIZE); a malformed one is refused whole, its
    first bad row named, and nothing is stored."""
    systems = snapshot_upload_systems()
    if request.method != "POST":
        return render(request, "reconciliation/upload.html", {"form": SnapshotUploadForm(systems=systems)})
    form = SnapshotUploadForm(request.POST, request.FILES, systems=systems)
    if form.is_valid():
        data = form.cleaned_data

        def submit():
            return services.snapshot_submit(
                system=data["system"], document=CsvSnapshot(data["file"], as_of=data["as_of"].isoformat()),
                source=InventorySnapshot.Source.UPLOAD, sent_by=request.user, scope=location_scope(request))

        result, stored = act_and_report(request, submit, done=_uploaded, failed="Nothing was stored: ")
        if stored:
            return redirect("reconciliation:run", result[0].pk)
    else:
        messages.error(request, f"Nothing was stored: {form_problems(form)}")
    return render(request, "reconciliation/upload.html", {"form": form}, status=400)


@_staff(UPLOAD, post=True)
def run_retry(request, run_id: int):
    """Queue a failed run again (those who upload snapshots may run them again)."""
    run = _run_or_404(run_id)
    act_and_report(request, lambda: services.run_retry(run_id=run.pk, actor=request.user),
                   done=f"Reconciliation #{run.pk} is queued again.", failed="Not queued: ")
    return redirect("reconciliation:run", run.pk)


def _uploaded(submitted) -> str:
    run, created = submitted
    lines = f"{run.snapshot.line_count:,} line{'s' if run.snapshot.line_count != 1 else ''}"
    if not created:
        return (f"This snapshot ({lines}) was stored before for {run.system.code} as of the same time: "
                f"reconciliation #{run.pk} is its run.")
    return f"Snapshot stored ({lines}); reconciliation #{run.pk} is queued and runs in a moment."


# --- One line ----------------------------------------------------------------------------------------


@require_GET
@_staff(VIEW)
def line_detail(request, line_id: int):
    try:
        line = selectors.line_for(scope=location_scope(request), line_id=line_id)
    except ReconciliationLine.DoesNotExist:
        raise Http404("No such line.") from None
    run = line.run
    story = selectors.line_ledger_story(line)
    return render(request, "reconciliation/line_detail.html", {
        "line": line, "run": run, "status": RUN_STATUS_WORDS.get(run.status, run.status), "story": story,
        "last_decision": _last_decision(line),
        "accept_delta": line.snapshot_on_hand - story.on_hand_then if story else None,
        "decidable": request.user.has_perm(DECIDE) and run.status == RunStatus.REVIEW and _decidable(line),
    })


# --- Deciding ------------------------------------------------------------------------------------------

_SERVICES = {
    "accept": review.lines_accept,
    "keep": review.lines_keep,
    "dismiss": review.lines_dismiss,
    "escalate": review.lines_escalate,
}


@_staff(DECIDE, post=True)
def run_decide(request, run_id: int):
    """One action on the chosen lines; back to where the person was (the run's filtered
    page, or the line)."""
    run = _run_or_404(run_id)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = reverse("reconciliation:run", args=[run.pk])
    form = DecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing was decided: {form_problems(form)}")
        return redirect(back)
    action, lines = form.cleaned_data["action"], form.cleaned_data["lines"]
    act_and_report(
        request,
        lambda: _SERVICES[action](run_id=run.pk, line_ids=lines, actor=request.user, scope=location_scope(request),
                                  reason=form.cleaned_data["reason"]),
        done=lambda outcome: _done(outcome, verb=DecideForm.ACTIONS[action]),
        failed="Nothing was decided: ",
    )
    return redirect(back)


def _done(outcome: review.ReviewOutcome, *, verb: str) -> str:
    count = len(outcome.decisions)
    text = f"{count} line{'s' if count != 1 else ''} {verb}."
    waiting = outcome.pending_approval
    if waiting:
        text += (f" {len(waiting)} adjustment{'s wait' if len(waiting) != 1 else ' waits'} for finance approval "
                 f"(worth {', '.join(f'{decision.adjustment.value:,.2f}' for decision in waiting)}).")
    if any(decision.action == Decision.KEPT and decision.outbox_message_id is None for decision in outcome.decisions):
        text += " The system takes no documents: nothing was sent to it."
    if outcome.run_closed:
        text += " Every variance line is decided: the reconciliation is closed."
    return text
