"""Adjustments: corrections of on-hand, valued and routed through the approval policy.

value = |delta| × the SKU's unit cost (a snapshot taken at the request). The active
`ApprovalPolicy` decides what happens next: below its threshold the adjustment applies at
once; at or above it waits for a finance approver (`inventory.approve_adjustment`); at or
above its optional second threshold it waits for two different finance approvers. Nobody
approves or rejects an adjustment they requested. Every decision is an
`AdjustmentDecision` row (who, when, approve or reject, note); every status change is in
the adjustment's history.

Applying re-checks the level under its row lock, because stock keeps moving between the
request and the approval. The rule:

- **Nothing moved** (on-hand is what it was at the request): the approved delta applies.
- **A relative adjustment** (found stock, shrink, damage, a correction: a `delta`) still
  describes the same physical units after other facts were recorded, so it applies as
  approved — except that a write-off is refused (409 `stale_quantity`) when on-hand fell
  since the request and the write-off would now take it below zero: the units it would
  remove have left by other means (sold, shipped), and writing them off again would count
  them twice.
- **A count** (made from a count event that waited for approval) states an absolute
  quantity at a moment. It is re-derived as the count minus the ledger's on-hand *as of
  the count* (on-hand now minus the on-hand movements that occurred after it), the same
  "as of" rule reconciliation uses, so facts that arrived late are not counted twice and
  facts after the count are kept. The re-derived delta applies when it points the same
  way and is no larger than the approved one (finance approved at least that much; zero
  just marks the level counted); otherwise it is refused (409 `stale_quantity`, with the
  current on-hand and the re-derived delta) and finance rejects it and asks for a
  recount. A count older than the level's last applied count is refused the same way:
  it has been superseded.

A refused approval changes nothing (no decision is stored): the adjustment stays pending.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from integrations import outbox
from inventory.errors import DuplicateApprover, InvalidReason, NotAnApprover, SelfApproval, StaleQuantity
from inventory.ledger import Movement, lock_levels, post_movements, posting_time
from inventory.models import (
    Adjustment,
    AdjustmentDecision,
    ApprovalPolicy,
    Bucket,
    InventoryEvent,
    Sku,
    StockLevel,
    StockMovement,
    occurred_since,
)
from inventory.selectors import active_skus, location_by_code
from inventory.states import ADJUSTMENT_TRANSITIONS, AdjustmentStatus
from retailops.access import LocationScope
from retailops.errors import InvalidInput
from retailops.lifecycle import check_transition
from retailops.transactions import in_retrying_transaction

APPROVE_PERMISSION = "inventory.approve_adjustment"
COUNT_REASON = "cycle_count"
# The most one adjustment changes, either way: beyond any real correction, and inside the
# integer column that stores it, whichever screen or endpoint asks.
MAX_DELTA = 1_000_000_000
_CENTS = Decimal("0.01")


def approval_policy_current() -> ApprovalPolicy:
    """The active policy; without one, an unsaved policy with the settings' threshold."""
    return ApprovalPolicy.objects.filter(active=True).first() or ApprovalPolicy()


def adjustment_value(*, delta: int, unit_cost: Decimal) -> Decimal:
    return (abs(delta) * unit_cost).quantize(_CENTS)


# --- Requesting -----------------------------------------------------------------------------


def _transition(adjustment: Adjustment, to: str, *, actor, reason: str, fields: tuple[str, ...] = (),
                at: datetime | None = None) -> None:
    """Move a locked (or new) adjustment to `to` and record who, why and when (`at`,
    default now) in its history."""
    check_transition(ADJUSTMENT_TRANSITIONS, adjustment.status, to, noun="adjustment")
    previous = adjustment.status
    adjustment.status = to
    adjustment._history_user = actor
    adjustment._change_reason = f"{reason} ({previous} → {to})"
    adjustment._history_date = at or timezone.now()
    if adjustment.pk is None:
        adjustment.save()
    else:
        adjustment.save(update_fields=["status", "updated_at", *fields])


@in_retrying_transaction
def adjustment_request(*, sku_code: str, location_code: str, delta: int, reason: str, actor,
                       scope: LocationScope, note: str = "", expected_on_hand: int | None = None,
                       reference: str = "", root_cause: str = "", source_system: str = "",
                       now: datetime | None = None) -> Adjustment:
    """Ask for a change of on-hand. Below the policy's threshold it applies at once;
    otherwise it waits for finance (`pending_approval`). `now`: when (default: the
    current time; never ahead of the clock) — the request's time, and the movement's.

    `expected_on_hand` is compare-and-set: when the level's on-hand is another number,
    `StaleQuantity` (409 `stale_quantity`, with `current_on_hand`) and nothing changes.
    """
    now = posting_time(now)
    if reason not in settings.ADJUSTMENT_REASONS:
        raise InvalidReason(f"Unknown reason '{reason}'; one of {', '.join(settings.ADJUSTMENT_REASONS)}.",
                            field="reason")
    if delta == 0:
        raise InvalidInput("delta must not be 0.", code="invalid_quantity", field="delta")
    if abs(delta) > MAX_DELTA:
        raise InvalidInput(f"delta must be within ±{MAX_DELTA:,}.", code="max_value", field="delta")
    sku = active_skus({"sku": sku_code})[sku_code]
    location = location_by_code(location_code, scope=scope)
    policy = approval_policy_current()
    key = (sku.pk, location.pk)
    level = lock_levels([key])[key]
    if expected_on_hand is not None and level.on_hand != expected_on_hand:
        raise StaleQuantity(f"On-hand of {sku.code} at {location.code} is {level.on_hand}, "
                            f"not {expected_on_hand}.", current_on_hand=level.on_hand)
    value = adjustment_value(delta=delta, unit_cost=sku.unit_cost)
    adjustment = Adjustment(
        sku=sku, location=location, delta=delta, reason=reason, root_cause=root_cause, note=note,
        reference=reference, expected_on_hand=expected_on_hand, on_hand_at_request=level.on_hand,
        unit_cost=sku.unit_cost, value=value, approvals_required=policy.approvals_required(value),
        requested_by=actor, source_system=source_system, created_at=now,
    )
    return _pend_or_apply(adjustment, level=level, actor=actor, verb="requested", now=now)


def _pend_or_apply(adjustment: Adjustment, *, level: StockLevel, actor, verb: str,
                   now: datetime | None = None) -> Adjustment:
    """A new adjustment waits for finance when the policy asks for approvals; otherwise it
    applies at once, against `level` (locked by the caller)."""
    if adjustment.approvals_required:
        _transition(adjustment, AdjustmentStatus.PENDING_APPROVAL, actor=actor,
                    reason=f"{verb}; {adjustment.value} needs {adjustment.approvals_required} finance approval(s)",
                    at=now)
        return adjustment
    adjustment._history_user = actor
    adjustment._change_reason = verb
    adjustment._history_date = now or timezone.now()
    adjustment.save()
    _apply(adjustment, level=level, actor=actor, reason=f"{verb}; {adjustment.value} is below the approval threshold",
           now=now)
    return adjustment


@dataclass(frozen=True)
class PendingCount:
    """A count event whose variance needs finance, as events_ingest saw it."""

    event_id: int
    sku: Sku
    location_id: int
    counted: int
    counted_at: datetime
    on_hand: int  # the level's on-hand when the count was taken in


def adjustments_from_counts(counts: list[PendingCount], *, actor, policy: ApprovalPolicy) -> list[Adjustment]:
    """Store a pending adjustment for each count that waits for finance (two queries for
    any number). Runs inside the ingest transaction, under the levels' locks."""
    sources = dict(InventoryEvent.objects.filter(pk__in=[count.event_id for count in counts])
                   .values_list("pk", "source"))
    adjustments = []
    for count in counts:
        delta = count.counted - count.on_hand
        value = adjustment_value(delta=delta, unit_cost=count.sku.unit_cost)
        adjustments.append(Adjustment(
            sku=count.sku, location_id=count.location_id, delta=delta, reason=COUNT_REASON,
            on_hand_at_request=count.on_hand, unit_cost=count.sku.unit_cost, value=value,
            approvals_required=max(1, policy.approvals_required(value)), counted_quantity=count.counted,
            counted_at=count.counted_at, event_id=count.event_id, requested_by=actor,
            source_system=sources.get(count.event_id, ""), status=AdjustmentStatus.PENDING_APPROVAL,
        ))
    return bulk_create_with_history(adjustments, Adjustment, default_user=actor,
                                    default_change_reason="count variance needs finance approval")


def adjustment_from_count(*, sku: Sku, level: StockLevel, counted: int, counted_at: datetime, actor,
                          policy: ApprovalPolicy, reference: str = "", note: str = "") -> Adjustment | None:
    """A cycle count's counted quantity at a level the caller holds locked, made into a
    count adjustment: below the policy's threshold it applies at once (and marks the level
    counted), at or above it waits for finance, who approve it like any other. A count
    equal to on-hand makes none (None); the caller marks that level counted. Runs inside
    the caller's transaction."""
    delta = counted - level.on_hand
    if delta == 0:
        return None
    value = adjustment_value(delta=delta, unit_cost=sku.unit_cost)
    adjustment = Adjustment(
        sku=sku, location_id=level.location_id, delta=delta, reason=COUNT_REASON, note=note, reference=reference,
        on_hand_at_request=level.on_hand, unit_cost=sku.unit_cost, value=value,
        approvals_required=policy.approvals_required(value), counted_quantity=counted, counted_at=counted_at,
        requested_by=actor, created_at=counted_at,
    )
    return _pend_or_apply(adjustment, level=level, actor=actor, verb="counted", now=counted_at)


# --- Deciding -------------------------------------------------------------------------------


# The approval policy's rule for every decision it asks for (adjustments here, refunds of
# returns too): only a holder of the approving permission decides, never on what they
# asked for; at the second threshold two different people approve.


def approval_decider_check(*, user, requested_by_id: int | None, permission: str = APPROVE_PERMISSION,
                           not_approver: str | None = None, self_approval: str | None = None) -> None:
    """`user` may approve or reject something `requested_by_id` asked for, or raise
    `NotAnApprover` (403 `not_an_approver`) / `SelfApproval` (403 `self_approval`)."""
    if not user.has_perm(permission):
        raise NotAnApprover(not_approver)
    if requested_by_id is not None and requested_by_id == user.pk:
        raise SelfApproval(self_approval)


def approval_counted(*, approver, earlier_approvers: set[int], required: int) -> tuple[int, bool]:
    """Count `approver`'s approval after `earlier_approvers` (user ids): returns (how
    many approvals there are with it, whether that is all `required`), or raises
    `DuplicateApprover` (403 `duplicate_approver`) when they approved already."""
    if approver.pk in earlier_approvers:
        raise DuplicateApprover()
    approvals = len(earlier_approvers) + 1
    return approvals, approvals >= max(required, 1)


def _check_decider(adjustment: Adjustment, user) -> None:
    approval_decider_check(user=user, requested_by_id=adjustment.requested_by_id)


@in_retrying_transaction
def adjustment_approve(*, adjustment: Adjustment, approver, note: str = "") -> Adjustment:
    """Finance approves a pending adjustment. The last approval it needs applies it, under
    the level's lock and after the re-check described in this module's docstring."""
    locked = Adjustment.objects.select_for_update().select_related("sku", "location").get(pk=adjustment.pk)
    _check_decider(locked, approver)
    check_transition(ADJUSTMENT_TRANSITIONS, locked.status, AdjustmentStatus.APPROVED, noun="adjustment")
    earlier = set(locked.decisions.filter(decision=AdjustmentDecision.Decision.APPROVE)
                  .values_list("decided_by_id", flat=True))
    approvals, enough = approval_counted(approver=approver, earlier_approvers=earlier,
                                         required=locked.approvals_required)
    AdjustmentDecision.objects.create(adjustment=locked, decided_by=approver,
                                      decision=AdjustmentDecision.Decision.APPROVE, note=note)
    if not enough:
        locked._history_user = approver
        locked._change_reason = _with_note(f"approval {approvals} of {locked.approvals_required}", note)
        locked.save(update_fields=["updated_at"])
        return locked
    _transition(locked, AdjustmentStatus.APPROVED, actor=approver,
                reason=_with_note(f"approved ({approvals} of {locked.approvals_required})", note))
    key = (locked.sku_id, locked.location_id)
    _apply(locked, level=lock_levels([key])[key], actor=approver, reason="applied on approval")
    return locked


@in_retrying_transaction
def adjustment_reject(*, adjustment: Adjustment, decider, note: str) -> Adjustment:
    """Finance rejects a pending adjustment; the note (why) is required."""
    if not note or not note.strip():
        raise InvalidInput("A rejection needs a note saying why.", code="required", field="note")
    locked = Adjustment.objects.select_for_update().get(pk=adjustment.pk)
    _check_decider(locked, decider)
    check_transition(ADJUSTMENT_TRANSITIONS, locked.status, AdjustmentStatus.REJECTED, noun="adjustment")
    AdjustmentDecision.objects.create(adjustment=locked, decided_by=decider,
                                      decision=AdjustmentDecision.Decision.REJECT, note=note)
    _transition(locked, AdjustmentStatus.REJECTED, actor=decider, reason=_with_note("rejected", note))
    if locked.event_id is not None:  # the count that waited is now settled, not applied
        InventoryEvent.objects.filter(pk=locked.event_id).update(
            status=InventoryEvent.Status.REJECTED, error_code="rejected_by_finance", error_detail=note[:500])
    return locked


def _with_note(reason: str, note: str) -> str:
    return f"{reason}: {note}" if note else reason


# --- Applying ---------------------------------------------------------------------------------


def _delta_to_apply(adjustment: Adjustment, level: StockLevel) -> int:
    """The delta to post now, or StaleQuantity (see the module docstring for the rule)."""
    if adjustment.is_count:
        if level.last_counted_at is not None and level.last_counted_at >= adjustment.counted_at:
            raise StaleQuantity(
                f"A later count ({level.last_counted_at.isoformat()}) was applied at this level; "
                "this one is superseded.", current_on_hand=level.on_hand)
        if level.on_hand == adjustment.on_hand_at_request:
            return adjustment.delta
        after_count = StockMovement.objects.filter(
            occurred_since(adjustment.counted_at, inclusive=False), sku_id=adjustment.sku_id,
            location_id=adjustment.location_id, bucket=Bucket.ON_HAND,
        ).aggregate(total=Sum("delta"))["total"] or 0
        recomputed = adjustment.counted_quantity - (level.on_hand - after_count)
        same_way = recomputed == 0 or (recomputed > 0) == (adjustment.delta > 0)
        if same_way and abs(recomputed) <= abs(adjustment.delta):
            return recomputed
        raise StaleQuantity(
            f"On-hand moved since the count: it now calls for {recomputed:+d}, not the approved "
            f"{adjustment.delta:+d}. Reject it and recount.",
            current_on_hand=level.on_hand, recomputed_delta=recomputed)
    fell = level.on_hand < adjustment.on_hand_at_request
    if adjustment.delta < 0 and fell and level.on_hand + adjustment.delta < 0:
        raise StaleQuantity(
            f"On-hand fell from {adjustment.on_hand_at_request} to {level.on_hand} since the request; "
            f"writing off {-adjustment.delta} more would count units that already left.",
            current_on_hand=level.on_hand)
    return adjustment.delta


def _apply(adjustment: Adjustment, *, level: StockLevel, actor, reason: str, now: datetime | None = None) -> None:
    """Post the adjustment against `level`, locked by the caller, as applied `now` (default:
    the current time); a count's movement occurs when it was counted."""
    delta = _delta_to_apply(adjustment, level)
    key = (adjustment.sku_id, adjustment.location_id)
    applied_at = now or timezone.now()
    post_movements(
        [Movement(*key, Bucket.ON_HAND, delta, reason=f"adjustment_{adjustment.reason}",
                  occurred_at=adjustment.counted_at or applied_at)] if delta else [],
        counted_at={key: adjustment.counted_at} if adjustment.is_count else None,
        actor=actor, document_type=Adjustment.DOCUMENT_TYPE, document_id=str(adjustment.pk))
    adjustment.applied_delta = delta
    adjustment.applied_at = applied_at
    if delta != adjustment.delta:
        reason = f"{reason}; re-derived from the count as {delta:+d}"
    _transition(adjustment, AdjustmentStatus.APPLIED, actor=actor, reason=reason,
                fields=("applied_delta", "applied_at"), at=applied_at)
    if adjustment.event_id is not None:  # the count that waited for finance is now applied
        InventoryEvent.objects.filter(pk=adjustment.event_id).update(status=InventoryEvent.Status.APPLIED)
    if delta:
        # The ERP books the stock value change; the outbox row commits with the movement.
        outbox.document_enqueue(document_type=Adjustment.DOCUMENT_TYPE, document=_erp_document(adjustment, delta))


def _erp_document(adjustment: Adjustment, delta: int) -> dict:
    return {
        "id": adjustment.pk,
        "sku": adjustment.sku.code,
        "location": adjustment.location.code,
        "delta": delta,
        "unit_cost": str(adjustment.unit_cost),
        "value": str((abs(delta) * adjustment.unit_cost).quantize(Decimal("0.01"))),
        "reason": adjustment.reason,
        "root_cause": adjustment.root_cause,
        "applied_at": adjustment.applied_at.isoformat(),
    }
