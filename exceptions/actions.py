"""Resolution actions on a case: real work done through the owning app's service, and a
comment on the case saying who did what and why, in one transaction.

Unlike `exceptions.services` (which every app imports to raise cases, so imports none of
them), this module sits on top: it calls inventory's and orders' services and is called
only by the case screens.
"""

from dataclasses import dataclass, field

from django.db import transaction

from exceptions.models import Case
from exceptions.services import case_comment
from exceptions.states import CaseKind
from inventory.adjustments import adjustment_request
from inventory.counts import count_schedule
from inventory.ingest import event_replay
from inventory.models import Adjustment, CycleCount, InventoryEvent
from orders.callers import Caller
from orders.models import Allocation
from orders.selectors import reservations_for
from orders.services import reservation_release
from orders.states import AllocationStatus
from retailops.access import LocationScope
from retailops.errors import InvalidState, NotFound

ADJUST_PERMISSION = "inventory.add_adjustment"
REPLAY_PERMISSION = "inventory.change_inventoryevent"
RELEASE_PERMISSION = "orders.change_allocation"
RECOUNT_PERMISSION = "inventory.add_cyclecount"
# Cases about a promise that could not be kept: the holds at their level are worth a look.
RESERVATION_KINDS = frozenset({CaseKind.RESERVATION_FAILURE})
# Where a detector names one hold in a case's context.
HOLD_CONTEXT_KEYS = ("reservation_id", "hold_id", "allocation_id")
MAX_HOLDS_SHOWN = 50


@dataclass
class AvailableActions:
    """Which resolution actions the case detail offers this person for this case."""

    adjust: bool = False
    replay_event: InventoryEvent | None = None
    holds: list[Allocation] = field(default_factory=list)
    recount: bool = False

    @property
    def any(self) -> bool:
        return self.adjust or self.replay_event is not None or bool(self.holds) or self.recount


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
    if user.has_perm(RELEASE_PERMISSION) and (case.kind in RESERVATION_KINDS or _context_hold_id(case)):
        available.holds = list(_active_holds(case, caller=caller).order_by("expires_at", "pk")[:MAX_HOLDS_SHOWN])
    return available


def replayable_event(case: Case) -> InventoryEvent | None:
    """The rejected inbound event a case is about, if it is one."""
    if not case.subject_id or case.subject_type_id is None or case.subject_type.model_class() is not InventoryEvent:
        return None
    return InventoryEvent.objects.filter(pk=case.subject_id, status=InventoryEvent.Status.REJECTED).first()


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


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
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


@transaction.atomic
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
