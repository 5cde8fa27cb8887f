"""Raising cases. The one way any part of the product reports something for a person.

This module imports nothing from the other apps, so every app can raise cases through it
without a dependency cycle.
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from exceptions import policy
from exceptions.models import Case, CaseComment
from exceptions.priority import anomaly, priority, urgency
from exceptions.states import ACTIVE_STATUSES, TRANSITIONS, CaseStatus, RootCause
from retailops.access import location_scope_for_user
from retailops.errors import InvalidInput
from retailops.lifecycle import check_transition
from retailops.transactions import in_retrying_transaction

# Who may be given a case: holders of this permission (every role that works a queue).
WORK_CASES_PERMISSION = "exceptions.change_case"
# simple-history keeps at most this many characters of a change reason.
_REASON_LENGTH = 100


@dataclass
class CaseReport:
    """What a detector knows about one problem."""

    kind: str
    dedup_key: str
    title: str
    detail: str = ""
    subject: Any = None
    sku_id: int | None = None
    location_id: int | None = None
    money_at_risk: Decimal = Decimal("0")
    context: dict = field(default_factory=dict)
    occurrences: int = 1  # detections folded into this one report


def raise_cases(reports: list[CaseReport], *, actor=None) -> None:
    """Raise many reports; those sharing a dedup key become one raise (the last one's
    context, the largest money at risk, every occurrence counted)."""
    merged: dict[str, CaseReport] = {}
    for report in reports:
        earlier = merged.get(report.dedup_key)
        if earlier is not None:
            report = replace(report, occurrences=earlier.occurrences + report.occurrences,
                             money_at_risk=max(earlier.money_at_risk, report.money_at_risk))
        merged[report.dedup_key] = report
    for report in merged.values():
        raise_case(report, actor=actor)


def raise_case(report: CaseReport, *, actor=None) -> Case:
    """Open a case, or bump the active case with the same dedup key.

    A bump adds an occurrence, moves last-seen, keeps the larger money at risk, takes
    the newest context and recomputes the priority: one case, never a duplicate.
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    Case.objects.select_for_update()
                    .filter(dedup_key=report.dedup_key, status__in=ACTIVE_STATUSES)
                    .first()
                )
                if existing is not None:
                    return _bump(existing, report, actor=actor)
                return _open(report, actor=actor)
        except IntegrityError:  # a concurrent raise opened it first: bump that one
            if attempt:
                raise
    raise AssertionError("unreachable")


def _open(report: CaseReport, *, actor) -> Case:
    now = timezone.now()
    kind_policy = policy.policy_for(report.kind)
    sla = policy.sla_for(report.kind)
    sla_due_at = now + sla
    case = Case(
        kind=report.kind,
        queue=kind_policy.queue,
        severity=kind_policy.severity,
        title=report.title[:300],
        detail=report.detail,
        sku_id=report.sku_id,
        location_id=report.location_id,
        context=report.context,
        dedup_key=report.dedup_key,
        occurrences=report.occurrences,
        first_seen_at=now,
        last_seen_at=now,
        money_at_risk=report.money_at_risk,
        source=str(report.context.get("source", ""))[:64] if isinstance(report.context, dict) else "",
        sla_due_at=sla_due_at,
    )
    _rank(case, now=now)
    if report.subject is not None:
        case.subject_type = ContentType.objects.get_for_model(report.subject)
        case.subject_id = str(report.subject.pk)
    case._history_user = actor
    case._change_reason = "detected"
    case.save()
    return case


def _bump(case: Case, report: CaseReport, *, actor) -> Case:
    now = timezone.now()
    case.occurrences += report.occurrences
    case.last_seen_at = now
    case.money_at_risk = max(case.money_at_risk, report.money_at_risk)
    case.context = report.context or case.context
    case.condition_cleared_at = None  # seen again: whatever cleared it did not last
    _rank(case, now=now)
    case._history_user = actor
    case._change_reason = "detected again"
    case.save(update_fields=["occurrences", "last_seen_at", "money_at_risk", "context", "priority",
                             "priority_factors", "condition_cleared_at", "updated_at"])
    return case


def _location_confidence(case: Case) -> Decimal | None:
    """The confidence of the case's location, read through the case's own relation."""
    return case.location.confidence if case.location_id is not None else None


def _rank(case: Case, *, now) -> None:
    """Recompute a case's priority from its occurrences, SLA and location's confidence
    (escalated cases keep their overdue urgency)."""
    confidence = _location_confidence(case)
    sla_total = (case.sla_due_at - case.first_seen_at).total_seconds()
    case.priority, case.priority_factors = priority(
        kind=case.kind,
        money_at_risk=case.money_at_risk,
        urgency_factor=(policy.ESCALATED_URGENCY if case.escalated else
                        urgency(sla_due_at=case.sla_due_at, sla_total_seconds=sla_total, now=now)),
        anomaly_factor=anomaly(case.occurrences, confidence),
        location_confidence=confidence,
    )


@in_retrying_transaction
def cases_rerank_at_locations(location_ids) -> int:
    """A location's confidence changed: its active cases are ranked again, so cases at a
    distrusted location rise in their queues (one history row per case)."""
    now = timezone.now()
    cases = list(Case.objects.select_for_update(of=("self",)).select_related("location")
                 .filter(location_id__in=list(location_ids), status__in=ACTIVE_STATUSES).order_by("pk"))
    for case in cases:
        _rank(case, now=now)
        case.updated_at = now
    if cases:
        bulk_update_with_history(cases, Case, ["priority", "priority_factors", "updated_at"],
                                 default_change_reason="ranked again: location confidence changed",
                                 default_date=now)
    return len(cases)


# --- Working a case: every verb locks the row, checks the move under the lock and records
# who and why in the case's history (simple-history: history user + change reason). ------


def _lock(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _transition(case: Case, *, to: str, actor, reason: str, fields: dict[str, Any]) -> Case:
    locked = _lock(case)
    check_transition(TRANSITIONS, locked.status, to, noun=f"case #{locked.pk}")
    previous = locked.status
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.status = to
    locked._history_user = actor
    locked._change_reason = f"{reason} ({previous} → {to})"[:_REASON_LENGTH]
    locked.save(update_fields=["status", *fields, "updated_at"])
    return locked


def _check_assignee(case: Case, assignee) -> None:
    if not assignee.is_active or not assignee.has_perm(WORK_CASES_PERMISSION):
        raise InvalidInput(f"{assignee.get_username()} does not work cases.", code="invalid_assignee",
                           field="assignee")
    if case.location_id is not None and not location_scope_for_user(assignee).allows(case.location_id):
        raise InvalidInput(f"{assignee.get_username()} does not work at this case's location.",
                           code="invalid_assignee", field="assignee")


def _check_root_cause(root_cause: str, *, allow_cleared: bool = False) -> None:
    """A person picks a root cause from the list; 'condition cleared' is the system's,
    or a person's confirmation of a case a detector flagged as cleared."""
    if not root_cause:
        raise InvalidInput("A root cause is required to resolve a case.", code="root_cause_required",
                           field="root_cause")
    if (root_cause not in RootCause.values or root_cause == RootCause.RECOUNTED
            or (root_cause == RootCause.CONDITION_CLEARED and not allow_cleared)):
        raise InvalidInput(f"Unknown root cause '{root_cause}'.", code="invalid_root_cause", field="root_cause")


@in_retrying_transaction
def case_assign(*, case: Case, assignee, actor, note: str = "") -> Case:
    """Give a case to a person (or take it): open/assigned/in progress → assigned."""
    _check_assignee(case, assignee)
    verb = "took the case" if assignee == actor else f"assigned to {assignee.get_username()}"
    case = _transition(case, to=CaseStatus.ASSIGNED, actor=actor, reason=verb, fields={"assignee": assignee})
    if note.strip():
        _comment(case, author=actor, body=note)
    return case


@in_retrying_transaction
def case_start(*, case: Case, actor) -> Case:
    """Start working a case; whoever starts it becomes its assignee if it had none."""
    locked = _lock(case)
    fields = {} if locked.assignee_id else {"assignee": actor}
    if not locked.assignee_id:
        _check_assignee(locked, actor)
    return _transition(locked, to=CaseStatus.IN_PROGRESS, actor=actor, reason="started work", fields=fields)


@in_retrying_transaction
def case_resolve(*, case: Case, actor, root_cause: str, note: str = "") -> Case:
    """Close a case with its root cause (required) and what was done."""
    locked = _lock(case)
    _check_root_cause(root_cause, allow_cleared=locked.condition_cleared_at is not None)
    return _transition(locked, to=CaseStatus.RESOLVED, actor=actor, reason=f"resolved: {root_cause}", fields={
        "root_cause": root_cause, "resolution_note": note.strip(), "resolved_at": timezone.now(),
        "resolved_by": actor,
    })


@in_retrying_transaction
def case_dismiss(*, case: Case, actor, reason: str) -> Case:
    """Close a case that needs no action (a false alarm); the reason is required."""
    if not reason.strip():
        raise InvalidInput("A reason is required to dismiss a case.", code="dismissal_reason_required",
                           field="reason")
    return _transition(case, to=CaseStatus.DISMISSED, actor=actor, reason="dismissed", fields={
        "resolution_note": reason.strip(), "resolved_at": timezone.now(), "resolved_by": actor,
    })


@in_retrying_transaction
def case_comment(*, case: Case, author, body: str) -> CaseComment:
    if not body.strip():
        raise InvalidInput("A comment needs some text.", code="comment_empty", field="body")
    return _comment(case, author=author, body=body)


def _comment(case: Case, *, author, body: str) -> CaseComment:
    return CaseComment.objects.create(case=case, author=author, body=body.strip())


@in_retrying_transaction
def case_escalate(*, case: Case, actor=None, reason: str = "SLA breached") -> Case:
    """Flag a case as escalated: it ranks at the top of its queue with overdue urgency."""
    locked = _lock(case)
    if not locked.is_active or locked.escalated:
        return locked
    _escalate_in_memory(locked, now=timezone.now())
    locked._history_user = actor
    locked._change_reason = f"escalated: {reason}"[:_REASON_LENGTH]
    locked.save(update_fields=["escalated", "escalated_at", "priority", "priority_factors", "updated_at"])
    return locked


def _escalate_in_memory(case: Case, *, now) -> None:
    case.escalated = True
    case.escalated_at = now
    case.priority, case.priority_factors = priority(
        kind=case.kind, money_at_risk=case.money_at_risk, urgency_factor=policy.ESCALATED_URGENCY,
        anomaly_factor=_decimal(case.priority_factors.get("anomaly", "1.0")),
    )
    case.updated_at = now


def _decimal(value) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal("1.0")


# --- Many at once: set-based, all or none, with one history row per case. -------------


def _lock_many(case_ids) -> list[Case]:
    return list(Case.objects.select_for_update().filter(pk__in=list(case_ids)).order_by("pk"))


def _bulk_transition(cases: list[Case], *, to: str, actor, reason: str, fields: dict[str, Any]) -> int:
    for case in cases:
        check_transition(TRANSITIONS, case.status, to, noun=f"case #{case.pk}")
    now = timezone.now()
    for case in cases:
        for name, value in fields.items():
            setattr(case, name, value)
        case.status = to
        case.updated_at = now
    if cases:
        bulk_update_with_history(cases, Case, ["status", *fields, "updated_at"], default_user=actor,
                                 default_change_reason=f"{reason} (bulk → {to})"[:_REASON_LENGTH],
                                 default_date=now)
    return len(cases)


@in_retrying_transaction
def cases_bulk_assign(*, case_ids, assignee, actor) -> int:
    """Assign many cases to one person (all or none)."""
    cases = _lock_many(case_ids)
    for case in cases:
        _check_assignee(case, assignee)
    verb = "took the case" if assignee == actor else f"assigned to {assignee.get_username()}"
    return _bulk_transition(cases, to=CaseStatus.ASSIGNED, actor=actor, reason=verb, fields={"assignee": assignee})


@in_retrying_transaction
def cases_bulk_resolve(*, case_ids, actor, root_cause: str, note: str = "") -> int:
    """Resolve many cases with one root cause (all or none)."""
    _check_root_cause(root_cause)
    cases = _lock_many(case_ids)
    return _bulk_transition(cases, to=CaseStatus.RESOLVED, actor=actor, reason=f"resolved: {root_cause}", fields={
        "root_cause": root_cause, "resolution_note": note.strip(), "resolved_at": timezone.now(),
        "resolved_by": actor,
    })


@in_retrying_transaction
def cases_resolve_cleared(case_ids, *, note: str) -> int:
    """Detectors: resolve active cases whose condition went away, as the system."""
    cases = [case for case in _lock_many(case_ids) if case.is_active]
    return _bulk_transition(cases, to=CaseStatus.RESOLVED, actor=None, reason="condition cleared", fields={
        "root_cause": RootCause.CONDITION_CLEARED, "resolution_note": note, "resolved_at": timezone.now(),
        "resolved_by": None,
    })


@in_retrying_transaction
def cases_resolve_recounted(case_ids, *, actor, note: str) -> int:
    """Cycle counts: resolve the active cases about levels a submitted count settled, with
    the system's root cause `recounted`; `actor` is who submitted the count."""
    cases = [case for case in _lock_many(case_ids) if case.is_active]
    return _bulk_transition(cases, to=CaseStatus.RESOLVED, actor=actor, reason="recounted", fields={
        "root_cause": RootCause.RECOUNTED, "resolution_note": note, "resolved_at": timezone.now(),
        "resolved_by": actor,
    })


@in_retrying_transaction
def cases_mark_cleared(case_ids, *, note: str) -> int:
    """Detectors: flag active cases whose condition went away, for a person to confirm."""
    now = timezone.now()
    cases = [case for case in _lock_many(case_ids) if case.is_active and case.condition_cleared_at is None]
    for case in cases:
        case.condition_cleared_at = now
        case.updated_at = now
    if cases:
        bulk_update_with_history(cases, Case, ["condition_cleared_at", "updated_at"],
                                 default_change_reason=f"condition cleared: {note}"[:_REASON_LENGTH],
                                 default_date=now)
    return len(cases)


@in_retrying_transaction
def cases_escalate(case_ids, *, reason: str = "SLA breached") -> int:
    """Detectors: escalate many active cases at once (already escalated ones are skipped)."""
    now = timezone.now()
    cases = [case for case in _lock_many(case_ids) if case.is_active and not case.escalated]
    for case in cases:
        _escalate_in_memory(case, now=now)
    if cases:
        bulk_update_with_history(cases, Case, ["escalated", "escalated_at", "priority", "priority_factors",
                                               "updated_at"],
                                 default_change_reason=f"escalated: {reason}"[:_REASON_LENGTH], default_date=now)
    return len(cases)
