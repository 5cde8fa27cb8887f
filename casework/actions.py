"""Resolution actions on a case: real work done through the owning app's service, and a
comment on the case saying who did what and why, in one transaction.

Unlike `exceptions.services` (which every app imports to raise cases, so imports none of
them), this module sits on top: it calls inventory's and orders' services and is called
only by the case screens.
"""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from casework.selectors import is_about_an_event
from exceptions.models import Case
from exceptions.services import case_comment
from exceptions.states import CaseKind
from inventory.adjustments import adjustment_request
from inventory.counts import count_schedule
from inventory.ingest import event_replay
from inventory.models import Adjustment, CycleCount, InventoryEvent
from inventory.selectors import event_by_id, levels_of_skus, rejected_events_like
from orders.callers import Caller
from orders.models import Allocation, Order
from orders.selectors import orders_for, reservations_for
from orders.services import order_reallocate, reservation_release
from orders.states import HOLDING_STATUSES, REALLOCATABLE_STATUSES, AllocationStatus, Fulfillment
from retailops.access import LocationScope
from retailops.errors import DomainError, InvalidInput, InvalidState, NotFound
from retailops.transactions import in_retrying_transaction

ADJUST_PERMISSION = "inventory.add_adjustment"
REPLAY_PERMISSION = "inventory.change_inventoryevent"
RELEASE_PERMISSION = "orders.change_allocation"
RECOUNT_PERMISSION = "inventory.add_cyclecount"
REALLOCATE_PERMISSION = "orders.change_order"
# Where a case names the order it is about (pickup_overdue, a pick failure) in its context.
ORDER_CONTEXT_KEYS = ("order", "order_id")
# Cases about a promise that could not be kept: the holds at their level are worth a look.
RESERVATION_KINDS = frozenset({CaseKind.RESERVATION_FAILURE})
# Where a detector names one hold in a case's context.
HOLD_CONTEXT_KEYS = ("reservation_id", "hold_id", "allocation_id")
MAX_HOLDS_SHOWN = 50
# Locations named per SKU as where a pickup's units could come from by transfer.
TRANSFER_SOURCES_SHOWN = 3
# A case may stand for many rejected events: one "replay all" takes at most this many
# (the rest wait for the next run), so a request stays short and its locks brief.
REPLAY_ALL_BATCH = 200
# Event ids named per outcome in the comment a "replay all" leaves on the case.
EVENT_IDS_NAMED = 20


@dataclass(frozen=True)
class TransferSource:
    """Where a pickup order's units of one SKU could be transferred from: other active
    locations with at least the line's quantity available, most available first."""

    sku: str
    quantity: int
    locations: list[tuple[str, int]]  # (code, available)


@dataclass
class AvailableActions:
    """Which resolution actions the case detail offers this person for this case."""

    adjust: bool = False
    replay_event: InventoryEvent | None = None
    rejected_events: int = 0  # the case's events still rejected, for "replay all"
    holds: list[Allocation] = field(default_factory=list)
    recount: bool = False
    # A ship order of the case whose open allocations may be sourced again elsewhere, and from where.
    reallocate_order: Order | None = None
    reallocate_from: list[str] = field(default_factory=list)
    # A pickup order of the case. It is not re-sourced: its store is the customer's choice,
    # so the units must come to that store (a transfer) or the customer be asked; the
    # screen says so, with where each SKU is available.
    pickup_order: Order | None = None
    transfer_sources: list[TransferSource] = field(default_factory=list)

    @property
    def replay_all(self) -> bool:
        """Offered when it does more than the single replay would."""
        return self.rejected_events > 1 or (self.rejected_events == 1 and self.replay_event is None)

    @property
    def any(self) -> bool:
        return (self.adjust or self.replay_event is not None or self.replay_all or bool(self.holds) or self.recount
                or self.reallocate_order is not None or self.pickup_order is not None)


def actions_for(case: Case, *, caller: Caller) -> AvailableActions:
    """Only what fits the case's kind and subject, and what the person may do."""
    user = caller.actor
    available = AvailableActions()
    if not case.is_active:
        return available
    at_a_level = case.sku_id is not None and case.location_id is not None
    available.adjust = at_a_level and user.has_perm(ADJUST_PERMISSION)
    available.recount = at_a_level and user.has_perm(RECOUNT_PERMISSION)
    if user.has_perm(REPLAY_PERMISSION):
        available.replay_event = replayable_event(case)
        available.rejected_events = rejected_events_of(case).count()
    if user.has_perm(RELEASE_PERMISSION) and (case.kind in RESERVATION_KINDS or _context_hold_id(case)):
        available.holds = list(_active_holds(case, caller=caller).order_by("expires_at", "pk")[:MAX_HOLDS_SHOWN])
    if user.has_perm(REALLOCATE_PERMISSION):
        order = _case_order(case, caller=caller)
        if order is not None and order.fulfillment == Fulfillment.SHIP and order.status in REALLOCATABLE_STATUSES:
            where = sorted({allocation.location.code for allocation in order.allocations.all()
                            if allocation.status in HOLDING_STATUSES and caller.scope.allows(allocation.location_id)})
            if where:
                available.reallocate_order, available.reallocate_from = order, where
        elif order is not None and order.fulfillment == Fulfillment.PICKUP and order.status in REALLOCATABLE_STATUSES:
            available.pickup_order = order
            available.transfer_sources = _transfer_sources(order)
    return available


def _transfer_sources(order: Order) -> list[TransferSource]:
    """For each line of a pickup order, the other active locations that could send its
    quantity to the pickup store: one query for every line."""
    lines = sorted(order.lines.all(), key=lambda line: line.line_id)
    candidates: dict[int, list[tuple[str, int]]] = {}
    for row in levels_of_skus(line.sku_id for line in lines).order_by("-available", "location__code"):
        if row["location__active"] and row["location_id"] != order.pickup_location_id and row["available"] > 0:
            candidates.setdefault(row["sku_id"], []).append((row["location__code"], row["available"]))
    return [TransferSource(sku=line.sku.code, quantity=line.quantity,
                           locations=[(code, units) for code, units in candidates.get(line.sku_id, [])
                                      if units >= line.quantity][:TRANSFER_SOURCES_SHOWN])
            for line in lines]


def _case_order_id(case: Case) -> int | None:
    if case.subject_id and case.subject_type_id is not None and case.subject_type.model_class() is Order:
        return int(case.subject_id)
    context = case.context if isinstance(case.context, dict) else {}
    for key in ORDER_CONTEXT_KEYS:
        value = context.get(key)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
    return None


def _case_order(case: Case, *, caller: Caller) -> Order | None:
    """The order the case is about, if the caller may see it (with its allocations)."""
    order_id = _case_order_id(case)
    if order_id is None:
        return None
    return (orders_for(caller=caller).filter(pk=order_id)
            .select_related("pickup_location").prefetch_related("allocations__location", "lines__sku").first())


def replayable_event(case: Case) -> InventoryEvent | None:
    """The rejected inbound event a case is about, if it is one."""
    if not is_about_an_event(case):
        return None
    event = event_by_id(int(case.subject_id))
    return event if event is not None and event.status == InventoryEvent.Status.REJECTED else None


def rejected_events_of(case: Case) -> QuerySet[InventoryEvent]:
    """The events a rejected-event case stands for that are still rejected.

    Rejections from one sender for one SKU code at one location code fold into one case
    (its dedup key), which names the first of them as its subject; so the case's events
    are the rejected ones sharing sender, SKU code and location code with that one —
    whatever they are rejected for now, since a replay may have met the next missing
    piece of master data."""
    if case.kind != CaseKind.REJECTED_EVENT or not is_about_an_event(case):
        return InventoryEvent.objects.none()
    return rejected_events_like(int(case.subject_id))


def _context_hold_id(case: Case) -> int | None:
    context = case.context if isinstance(case.context, dict) else {}
    for key in HOLD_CONTEXT_KEYS:
        value = context.get(key)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
    return None


def _active_holds(case: Case, *, caller: Caller):
    """Checkout holds still reserved that belong to the case: the one its context names,
    or those at its SKU and location; only where the caller may act."""
    holds = reservations_for(caller=caller).filter(status=AllocationStatus.RESERVED, line__isnull=True)
    named = _context_hold_id(case)
    if named is not None:
        return holds.filter(pk=named)
    if case.sku_id is None or case.location_id is None:
        return holds.none()
    return holds.filter(sku_id=case.sku_id, location_id=case.location_id)


def _check_active(case: Case) -> None:
    if not case.is_active:
        raise InvalidState(f"Case #{case.pk} is closed; reopen work on an active case.")


def _at_a_level(case: Case) -> None:
    if case.sku_id is None or case.location_id is None:
        raise InvalidState(f"Case #{case.pk} is not about one SKU at one location.")


def _with_note(text: str, note: str) -> str:
    return f"{text}\n{note.strip()}" if note.strip() else text


@in_retrying_transaction
def case_adjustment_request(*, case: Case, actor, scope: LocationScope, delta: int, reason: str,
                            note: str = "") -> Adjustment:
    """Request an adjustment of the case's level; the approval policy decides whether it
    applies now or waits for finance. The case's activity names the adjustment."""
    _check_active(case)
    _at_a_level(case)
    adjustment = adjustment_request(sku_code=case.sku.code, location_code=case.location.code, delta=delta,
                                    reason=reason, actor=actor, scope=scope, note=note, reference=f"case:{case.pk}")
    case_comment(case=case, author=actor, body=_with_note(
        f"Requested adjustment #{adjustment.pk}: {delta:+d} × {case.sku.code} at {case.location.code} "
        f"({reason}); {adjustment.get_status_display().lower()}.", note))
    return adjustment


@in_retrying_transaction
def case_event_replay(*, case: Case, actor, scope: LocationScope, note: str = "") -> InventoryEvent:
    """Replay the rejected event the case is about, once its master data is fixed."""
    _check_active(case)
    event = replayable_event(case)
    if event is None:
        raise InvalidState(f"Case #{case.pk} is not about a rejected event.")
    replayed = event_replay(event=event, actor=actor, scope=scope)
    outcome = (f"still rejected: {replayed.error_detail}" if replayed.status == InventoryEvent.Status.REJECTED
               else replayed.get_status_display().lower())
    case_comment(case=case, author=actor, body=_with_note(
        f"Replayed event {replayed.source}:{replayed.event_id}; {outcome}.", note))
    return replayed


@dataclass
class ReplayAllOutcome:
    """What one "replay all" did, as event ids (source:event id) per outcome."""

    taken_in: dict[str, list[str]] = field(default_factory=dict)  # status (applied, stale, …) → ids
    still_rejected: dict[str, list[str]] = field(default_factory=dict)  # why it is still rejected → ids
    refused: dict[str, list[str]] = field(default_factory=dict)  # why its replay was refused → ids
    left: int = 0  # rejected events beyond this run's batch

    @property
    def complete(self) -> bool:
        """Every event of the case is in the ledger now."""
        return not (self.still_rejected or self.refused or self.left)

    def summary(self) -> str:
        """One sentence: how many of each outcome, and why those not taken in were not."""
        replayed = sum(len(ids) for outcome in (self.taken_in, self.still_rejected, self.refused)
                       for ids in outcome.values())
        parts = [f"{len(ids)} {status}" for status, ids in self.taken_in.items()]
        for label, outcome in (("still rejected", self.still_rejected), ("refused", self.refused)):
            if outcome:
                reasons = "; ".join(f"{reason} ({len(ids)})" for reason, ids in outcome.items())
                parts.append(f"{sum(len(ids) for ids in outcome.values())} {label}: {reasons}")
        text = f"Replayed {replayed} rejected event{'s' if replayed != 1 else ''}: {', '.join(parts)}."
        if self.left:
            text += f" {self.left} more wait for the next run."
        return text

    def report(self) -> str:
        """The summary, then the events of each outcome by id."""
        lines = [self.summary()]
        lines += [f"{status.capitalize()}: {_ids(ids)}" for status, ids in self.taken_in.items()]
        for label, outcome in (("Still rejected", self.still_rejected), ("Refused", self.refused)):
            lines += [f"{label} ({reason}): {_ids(ids)}" for reason, ids in outcome.items()]
        return "\n".join(lines)


def _ids(ids: list[str]) -> str:
    more = f" and {len(ids) - EVENT_IDS_NAMED} more" if len(ids) > EVENT_IDS_NAMED else ""
    return ", ".join(ids[:EVENT_IDS_NAMED]) + more


@in_retrying_transaction
def case_events_replay_all(*, case: Case, actor, scope: LocationScope, note: str) -> ReplayAllOutcome:
    """Replay every rejected event the case stands for, once its master data is fixed.

    Each goes through `event_replay` — the one replay path, with its lock, its checks
    and its exactly-once posting — oldest fact first, at most REPLAY_ALL_BATCH per run.
    An event still rejected, or whose replay is refused (outside the person's stores, not
    replayable), is counted with its reason and does not stop the others: each replay is
    its own savepoint. The case's activity records the outcome, who ran it and why; the
    why is required, as this changes the ledger many times at once."""
    _check_active(case)
    if not note.strip():
        raise InvalidInput("Say why the events can be replayed now, e.g. which master data was fixed.",
                           code="note_required", field="note")
    events = list(rejected_events_of(case).order_by("occurred_at", "pk")[:REPLAY_ALL_BATCH + 1])
    if not events:
        raise InvalidState(f"Case #{case.pk} has no rejected events left to replay.")
    outcome = ReplayAllOutcome()
    if len(events) > REPLAY_ALL_BATCH:
        outcome.left = rejected_events_of(case).count() - REPLAY_ALL_BATCH
    for event in events[:REPLAY_ALL_BATCH]:
        name = f"{event.source}:{event.event_id}"
        try:
            replayed = event_replay(event=event, actor=actor, scope=scope)
        except DomainError as refusal:
            outcome.refused.setdefault(refusal.detail.rstrip("."), []).append(name)
            continue
        if replayed.status == InventoryEvent.Status.REJECTED:
            outcome.still_rejected.setdefault(replayed.error_detail.rstrip("."), []).append(name)
        else:
            outcome.taken_in.setdefault(replayed.get_status_display().lower(), []).append(name)
    case_comment(case=case, author=actor, body=f"{outcome.report()}\nWhy: {note.strip()}")
    return outcome


@in_retrying_transaction
def case_reservation_release(*, case: Case, caller: Caller, reservation_id: int, note: str = "") -> Allocation:
    """Release a stuck checkout hold of the case; its units are no longer committed."""
    _check_active(case)
    hold = _active_holds(case, caller=caller).filter(pk=reservation_id).first()
    if hold is None:
        raise NotFound(f"Reservation {reservation_id} is not an active hold of case #{case.pk}.")
    reason = f"released from case #{case.pk}" + (f": {note.strip()}" if note.strip() else "")
    released = reservation_release(reservation=hold, caller=caller, reason=reason[:255])
    case_comment(case=case, author=caller.actor, body=_with_note(
        f"Released reservation {released.pk}: {released.quantity} × {hold.sku.code} at {hold.location.code}.", note))
    return released


@in_retrying_transaction
def case_recount_open(*, case: Case, actor, scope: LocationScope, note: str = "") -> CycleCount:
    """Schedule a count of the case's SKU at its location."""
    _check_active(case)
    _at_a_level(case)
    count = count_schedule(location_code=case.location.code, selection=CycleCount.Selection.EXPLICIT,
                           sku_codes=[case.sku.code], actor=actor, scope=scope,
                           reason=_with_note(f"Case #{case.pk}", note).replace("\n", ": "))
    case_comment(case=case, author=actor, body=_with_note(
        f"Opened recount #{count.pk} of {case.sku.code} at {case.location.code}.", note))
    return count


@in_retrying_transaction
def case_order_reallocate(*, case: Case, caller: Caller, from_location_code: str, reason: str) -> Order:
    """Source the case's order again, away from one location (a store that cannot pick it);
    the case's activity says who moved it and why."""
    _check_active(case)
    order = _case_order(case, caller=caller)
    if order is None:
        raise NotFound(f"Case #{case.pk} is not about an order you can see.")
    moved = order_reallocate(order=order, caller=caller, from_location_code=from_location_code,
                             reason=f"case #{case.pk}: {reason.strip()}" if reason.strip() else "")
    case_comment(case=case, author=caller.actor, body=f"Re-sourced order {order.external_id} away from "
                                                      f"{from_location_code}.\nWhy: {reason.strip()}")
    return moved
