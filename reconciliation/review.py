"""Reviewing a run: what staff decide about its variance lines, one line or many at once.

Four decisions (`states.Decision`), each an append-only `LineDecision` with who and why and
what it made:

- **accept** the partner's quantity: an adjustment with reason `reconciliation`, through
  the approval policy (`inventory.adjustments.adjustment_request`): below the threshold it
  applies at once, at or above it waits for finance, and nobody approves their own. Its
  delta is the snapshot minus the ledger *as of the snapshot's time*, re-derived now under
  the level's lock (on-hand now minus the on-hand movements that occurred after `as_of`),
  so a fact that arrived since the run is not counted twice and movements after `as_of`
  are kept: on-hand ends where the partner said, plus what moved since. When the ledger
  as of `as_of` now agrees with the snapshot (late facts closed the gap), there is nothing
  to adjust and the line is refused (dismiss it instead).
- **keep** the ledger's quantity: a `stock_correction` document (SKU, location, on-hand
  now) is sent to the run's system through the outbox. A system that takes no documents
  (inbound only, a CSV source, disabled) gets none; the decision says so.
- **dismiss**, with a reason (required).
- **escalate** to a `reconciliation_variance` case, one per SKU × location: a second line
  for the same pair (from another run or system) attaches to the open case.

Only variance lines of a run in `review`, moving as `DECISION_TRANSITIONS` allows. The run
row is locked first, then the lines in id order, then (accepting) the levels in the
ledger's order, so concurrent reviewers cannot deadlock, and the run closes exactly once:
when no variance line is undecided. An escalated line counts as decided for closing — the
case owns it from then on, and it may still be accepted, kept or dismissed later.
A bulk action is all or nothing: one line that cannot take it refuses the whole.
"""

from dataclasses import dataclass, field

from django.utils import timezone

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations import outbox
from inventory.adjustments import adjustment_request
from inventory.ledger import lock_levels
from inventory.selectors import on_hand_moved_after
from inventory.states import AdjustmentStatus
from reconciliation.models import LineDecision, ReconciliationLine, ReconciliationRun
from reconciliation.states import DECISION_TRANSITIONS, Classification, Decision, RunStatus
from reconciliation.transitions import run_transition
from retailops.access import LocationScope
from retailops.errors import DomainError, InvalidInput, InvalidState, NotFound
from retailops.transactions import in_retrying_transaction

DECIDE_PERMISSION = "reconciliation.change_reconciliationline"
ADJUSTMENT_REASON = "reconciliation"
STOCK_CORRECTION = "stock_correction"
# The most lines one bulk action takes (a page of the review screen is far fewer).
MAX_LINES_PER_ACTION = 500


class NotAReviewer(DomainError):
    status = 403
    code = "not_a_reviewer"
    title = "Only finance, inventory control and operations admins decide reconciliation lines."


class NothingToAdjust(DomainError):
    code = "nothing_to_adjust"
    title = "The ledger now agrees with the snapshot; there is nothing to adjust."


@dataclass
class ReviewOutcome:
    """What one action did: its decisions (one per line, in line order) and whether the
    run closed with it."""

    decisions: list[LineDecision] = field(default_factory=list)
    run_closed: bool = False

    @property
    def pending_approval(self) -> list[LineDecision]:
        return [decision for decision in self.decisions
                if decision.adjustment is not None
                and decision.adjustment.status == AdjustmentStatus.PENDING_APPROVAL]


# --- The four decisions ----------------------------------------------------------------------


@in_retrying_transaction
def lines_accept(*, run_id: int, line_ids, actor, scope: LocationScope, reason: str = "") -> ReviewOutcome:
    """Adjust the ledger to each line's snapshot quantity (see the module docstring)."""
    run, lines = _lock(run_id, line_ids, to=Decision.ACCEPTED, actor=actor, scope=scope)
    levels = lock_levels([(line.sku_id, line.location_id) for line in lines])
    made = {}
    for line in lines:
        level = levels[(line.sku_id, line.location_id)]
        ledger_then = level.on_hand - on_hand_moved_after((line.sku_id, line.location_id), moment=run.as_of)
        delta = line.snapshot_on_hand - ledger_then
        if delta == 0:
            raise NothingToAdjust(
                f"{_name(line)}: the ledger as of {run.as_of:%Y-%m-%d %H:%M} is now {ledger_then}, as the snapshot "
                "says (facts arrived since the run); dismiss the line instead.", line=line.pk)
        made[line.pk] = adjustment_request(
            sku_code=line.sku_code, location_code=line.location_code, delta=delta, reason=ADJUSTMENT_REASON,
            actor=actor, scope=scope, expected_on_hand=level.on_hand, reference=f"reconciliation {run.pk}",
            note=_note(f"{run.system.code} counted {line.snapshot_on_hand} as of {run.as_of:%Y-%m-%d %H:%M}; "
                       f"the ledger then held {ledger_then}", reason))
    return _decide(run, lines, to=Decision.ACCEPTED, actor=actor, reason=reason,
                   links={pk: {"adjustment": adjustment} for pk, adjustment in made.items()})


@in_retrying_transaction
def lines_keep(*, run_id: int, line_ids, actor, scope: LocationScope, reason: str = "") -> ReviewOutcome:
    """The ledger is right: send each line's on-hand now to the run's system."""
    run, lines = _lock(run_id, line_ids, to=Decision.KEPT, actor=actor, scope=scope)
    levels = lock_levels([(line.sku_id, line.location_id) for line in lines])
    now = timezone.now()
    links, notes = {}, {}
    for line in lines:
        messages = outbox.document_enqueue(system_id=run.system_id, document_type=STOCK_CORRECTION, document={
            "sku": line.sku_code,
            "location": line.location_code,
            "on_hand": levels[(line.sku_id, line.location_id)].on_hand,
            "as_of": now.isoformat(),
            "reconciliation": run.pk,
            "snapshot_as_of": run.as_of.isoformat(),
            "snapshot_on_hand": line.snapshot_on_hand,
        })
        message = messages[0] if messages else None
        links[line.pk] = {"outbox_message": message}
        if message is None:
            notes[line.pk] = f"not sent: {run.system.code} takes no documents"
    return _decide(run, lines, to=Decision.KEPT, actor=actor, reason=reason, links=links, notes=notes)


@in_retrying_transaction
def lines_dismiss(*, run_id: int, line_ids, actor, scope: LocationScope, reason: str) -> ReviewOutcome:
    """Neither side changes; the reason says why (required)."""
    if not reason or not reason.strip():
        raise InvalidInput("Dismissing a line needs a reason saying why.", code="required", field="reason")
    run, lines = _lock(run_id, line_ids, to=Decision.DISMISSED, actor=actor, scope=scope)
    return _decide(run, lines, to=Decision.DISMISSED, actor=actor, reason=reason.strip())


@in_retrying_transaction
def lines_escalate(*, run_id: int, line_ids, actor, scope: LocationScope, reason: str = "") -> ReviewOutcome:
    """Hand each line to a `reconciliation_variance` case for its SKU × location (opened,
    or the open one bumped)."""
    run, lines = _lock(run_id, line_ids, to=Decision.ESCALATED, actor=actor, scope=scope)
    links = {}
    for line in lines:
        case = raise_case(CaseReport(
            kind=CaseKind.RECONCILIATION_VARIANCE,
            dedup_key=variance_case_key(sku_id=line.sku_id, location_id=line.location_id),
            title=f"Reconciliation variance: {line.sku_code} at {line.location_code} ({line.difference:+d})",
            detail=_note(f"{run.system.code} counted {line.snapshot_on_hand} as of {run.as_of:%Y-%m-%d %H:%M}; "
                         f"the ledger then held {line.ledger_on_hand_at_as_of} (reconciliation {run.pk}).", reason),
            subject=line, sku_id=line.sku_id, location_id=line.location_id, money_at_risk=line.value,
            context={"source": run.system.code, "reconciliation": run.pk, "line": line.pk,
                     "as_of": run.as_of.isoformat(), "snapshot_on_hand": line.snapshot_on_hand,
                     "ledger_on_hand_at_as_of": line.ledger_on_hand_at_as_of, "difference": line.difference,
                     "value": str(line.value)},
        ), actor=actor)
        links[line.pk] = {"case": case}
    return _decide(run, lines, to=Decision.ESCALATED, actor=actor, reason=reason, links=links)


def variance_case_key(*, sku_id: int, location_id: int) -> str:
    """One reconciliation case per SKU × location, whichever run or system found it."""
    return f"reconciliation_variance:{sku_id}:{location_id}"


# --- Shared steps ----------------------------------------------------------------------------------


def _lock(run_id: int, line_ids, *, to: str, actor, scope: LocationScope
          ) -> tuple[ReconciliationRun, list[ReconciliationLine]]:
    """Lock the run, then its named lines in id order, and check every line may move to `to`."""
    if not actor.has_perm(DECIDE_PERMISSION):
        raise NotAReviewer()
    ids = sorted({int(pk) for pk in line_ids})
    if not ids:
        raise InvalidInput("Choose at least one line.", code="required", field="lines")
    if len(ids) > MAX_LINES_PER_ACTION:
        raise InvalidInput(f"One action takes at most {MAX_LINES_PER_ACTION} lines.", code="max_items",
                           field="lines")
    run = (ReconciliationRun.objects.select_for_update(of=("self",)).select_related("system")
           .filter(pk=run_id).first())
    if run is None:
        raise NotFound(f"No reconciliation {run_id}.")
    if run.status != RunStatus.REVIEW:
        raise InvalidState(f"Reconciliation {run.pk} is {run.get_status_display().lower()}, not in review: "
                           "its lines can no longer be decided.", current_status=run.status)
    lines = list(scope.filter(ReconciliationLine.objects.filter(run=run, pk__in=ids))
                 .select_for_update(of=("self",)).order_by("pk"))
    if len(lines) != len(ids):
        missing = sorted(set(ids) - {line.pk for line in lines})
        raise NotFound(f"Reconciliation {run.pk} has no line {', '.join(map(str, missing))} that you may see.")
    for line in lines:
        if line.classification != Classification.VARIANCE:
            raise InvalidState(f"{_name(line)} is {line.get_classification_display().lower()}, not a variance: "
                               "only variance lines are decided.", line=line.pk)
        if to not in DECISION_TRANSITIONS.get(line.decision, set()):
            raise InvalidState(f"{_name(line)} is already {line.get_decision_display().lower()}; it cannot be "
                               f"{Decision(to).label.lower()} now.", line=line.pk, current_status=line.decision)
    return run, lines


def _decide(run: ReconciliationRun, lines: list[ReconciliationLine], *, to: str, actor, reason: str,
            links: dict | None = None, notes: dict | None = None) -> ReviewOutcome:
    """Record the decisions, mark the lines, and close the run when nothing is left."""
    links, notes = links or {}, notes or {}
    now = timezone.now()
    decisions = LineDecision.objects.bulk_create([
        LineDecision(line=line, action=to, actor=actor, reason=_note(reason, notes.get(line.pk, "")),
                     **links.get(line.pk, {}))
        for line in lines
    ])
    for line in lines:
        line.decision, line.decided_at, line.decided_by = to, now, actor
    # Lines keep no history of their own: the LineDecision rows above are their log.
    ReconciliationLine.objects.bulk_update(lines, ["decision", "decided_at", "decided_by"])
    closed = False
    undecided = run.line_set.filter(classification=Classification.VARIANCE, decision=Decision.UNDECIDED)
    if not undecided.exists():
        run.closed_at = now
        run_transition(run, RunStatus.CLOSED, actor=actor, fields=("closed_at",),
                       reason=f"every variance line decided (last: {len(lines)} {Decision(to).label.lower()})")
        closed = True
    return ReviewOutcome(decisions=decisions, run_closed=closed)


def _name(line: ReconciliationLine) -> str:
    return f"Line {line.pk} ({line.sku_code} at {line.location_code})"


def _note(text: str, extra: str) -> str:
    return f"{text}; {extra}" if text and extra else text or extra
