"""Re-sourcing: an order's open allocations at one location are given up there and
sourced again from the other eligible locations (API.md "Re-sourcing").

Why a store or DC gives an order up: it cannot pick it (the units are not on the shelf),
it will not acknowledge a pickup in time, it is closed. The order keeps its lines; only
where they are served from changes.

All or nothing: the released allocations become `reallocated`, the new ones are posted
through the ledger as a promise in the same transaction, and if any line cannot be
placed elsewhere the whole transaction rolls back (409 `insufficient_stock`) and nothing
changes. Locks follow the one order every orders service uses (Order → Allocation →
StockLevel), so a reallocation racing a ship serialises on the order row: the one that
locks it second sees what the first did.

Who and why are recorded three ways: the order's history (its change reason), the
allocations' history (each `reallocated`, with the reason), and the line's sourcing
explanation, which appends the reallocation with the new candidates and the rule that
decided.
"""

from collections import defaultdict

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from inventory.ledger import LevelKey, Movement, NotAvailable, post_movements
from inventory.models import Bucket
from inventory.selectors import location_by_code
from orders import sourcing
from orders.callers import Caller
from orders.models import Allocation, Order, OrderLine
from orders.services.promising import sourced
from orders.states import HOLDING_STATUSES, REALLOCATABLE_STATUSES, AllocationOrigin, AllocationStatus, Fulfillment
from orders.transitions import allocations_lock, allocations_transition, order_lock
from retailops.access import LocationScope
from retailops.errors import InvalidInput, InvalidState
from retailops.transactions import in_retrying_transaction

EXCLUDED_WHY = "the location the order is being re-sourced away from"


def _sourcing_scope(caller: Caller) -> LocationScope:
    """Where the units may go. A partner places them only inside its token's scope; staff
    (a store giving an order up, control re-sourcing it) send them to any eligible location:
    the channel's eligibility, not the person's stores, decides where an order may be served."""
    return caller.scope if caller.is_partner else LocationScope(None)


@in_retrying_transaction
def order_reallocate(*, order: Order, caller: Caller, from_location_code: str, reason: str) -> Order:
    """Release the order's open allocations at `from_location_code` and source them again
    from the other eligible locations, all or nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the order is re-sourced.", code="required", field="reason")
    from_location = location_by_code(from_location_code, field="from_location", scope=caller.scope)
    locked = order_lock(order.pk)
    if locked.status not in REALLOCATABLE_STATUSES:
        raise InvalidState(f"The order is {locked.status}; it cannot be re-sourced.", current_status=locked.status)
    if locked.fulfillment == Fulfillment.PICKUP:
        # The customer chose where to collect it: sourcing it elsewhere would break that
        # promise. The units go to the store by transfer, or the customer is asked.
        raise InvalidState(f"A pickup order is collected at {locked.pickup_location.code}, the customer's choice, "
                           f"so it is not re-sourced: transfer the units to {locked.pickup_location.code}, or tell "
                           "the customer and cancel the order.", current_status=locked.status)
    open_here = allocations_lock(locked.allocations.filter(status__in=HOLDING_STATUSES, location=from_location)
                                 .select_related("line", "sku"))
    if not open_here:
        raise InvalidState(f"Nothing of this order is allocated at {from_location.code}.",
                           current_status=locked.status)
    channel = locked.channel
    released: dict[LevelKey, int] = defaultdict(int)
    needed: dict[int, int] = defaultdict(int)  # line pk → units to place again
    lines: dict[int, OrderLine] = {}
    for allocation in open_here:
        released[(allocation.sku_id, allocation.location_id)] += allocation.quantity
        needed[allocation.line_id] += allocation.quantity
        lines[allocation.line_id] = allocation.line
    ordered_lines = sorted(lines.values(), key=lambda line: line.line_id)
    demands = [sourcing.Demand(line_id=line.line_id, sku_id=line.sku_id, sku=_sku_code(open_here, line.sku_id),
                               quantity=needed[line.pk]) for line in ordered_lines]
    region = next((line.sourcing.get("region") for line in ordered_lines if line.sourcing.get("region")), "") or ""
    snapshot = sourcing.Snapshot.read(sku_ids={demand.sku_id for demand in demands}, channel=channel,
                                      scope=_sourcing_scope(caller))
    snapshot.exclude(from_location.pk, EXCLUDED_WHY)

    allocations_transition(allocations=open_here, to=AllocationStatus.REALLOCATED, actor=caller.actor,
                           reason=f"re-sourced away from {from_location.code}: {reason}")

    def attempt(plans: list[sourcing.LinePlan], attempt_number: int) -> list[sourcing.LinePlan]:
        movements = [Movement(sku_id, location_id, Bucket.COMMITTED, -quantity, reason="order_reallocated")
                     for (sku_id, location_id), quantity in released.items()]
        required: dict[LevelKey, int] = {}
        for line_plan in plans:
            for location_id, quantity in line_plan.takes:
                key = (line_plan.demand.sku_id, location_id)
                required[key] = required.get(key, channel.safety_buffer) + quantity
                movements.append(Movement(*key, Bucket.COMMITTED, quantity, reason="order_allocation"))
            line_plan.explanation["attempt"] = attempt_number
        try:
            post_movements(movements, require_available=required, actor=caller.actor, document_type="order",
                           document_id=str(locked.pk))
        except NotAvailable as refused:
            seen = {} if refused.available is None else {refused.key: refused.available - channel.safety_buffer}
            raise sourcing.StockMoved(seen) from refused
        return plans

    plans = sourced(demands=demands, snapshot=snapshot, region=region, allow_split=True,
                    requested_location_id=None, attempt=attempt)
    now = timezone.now()
    by_line = {line.line_id: line for line in ordered_lines}
    record = {"from_location": from_location.code, "reason": reason, "by": caller.actor.get_username(),
              "at": now.isoformat()}
    new_allocations = []
    for line_plan in plans:
        line = by_line[line_plan.demand.line_id]
        explanation = {**line_plan.explanation, "reallocated": record}
        new_allocations += [
            Allocation(sku_id=line.sku_id, location_id=location_id, channel=channel, quantity=quantity,
                       origin=AllocationOrigin.ORDER, order=locked, line=line,
                       external_system_id=locked.external_system_id, created_by=caller.actor, sourcing=explanation)
            for location_id, quantity in line_plan.takes
        ]
        line.sourcing = {**explanation, "reallocations": [*line.sourcing.get("reallocations", []), record]}
    bulk_create_with_history(new_allocations, Allocation, default_user=caller.actor,
                             default_change_reason=f"re-sourced from {from_location.code}: {reason}")
    OrderLine.objects.bulk_update(ordered_lines, ["sourcing"])
    locked._history_user = caller.actor
    locked._change_reason = f"re-sourced away from {from_location.code}: {reason}"
    locked.save(update_fields=["updated_at"])
    return locked


def _sku_code(allocations: list[Allocation], sku_id: int) -> str:
    return next(allocation.sku.code for allocation in allocations if allocation.sku_id == sku_id)
