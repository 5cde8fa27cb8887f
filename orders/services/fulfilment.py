"""After an order is placed: cancelling it, shipping it, handing it over at a pickup
counter, and the counter's acknowledgement clock."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import timezone

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations import outbox
from inventory.errors import LocationOutOfScope
from inventory.ledger import Movement, post_movements, posting_time
from inventory.models import Bucket, Location
from inventory.selectors import location_by_code
from orders.callers import Caller
from orders.models import Allocation, Order
from orders.states import HOLDING_STATUSES, AllocationStatus, Fulfillment, OrderStatus
from orders.transitions import allocations_lock, allocations_transition, order_lock, order_transition
from retailops.errors import InvalidState
from retailops.transactions import in_retrying_transaction


def pickup_ack_window(location: Location) -> timedelta:
    """How long `location` has to acknowledge a pickup order: its own window, else the default."""
    return timedelta(minutes=location.pickup_ack_minutes or settings.PICKUP_ACK_WINDOW_MINUTES)


@in_retrying_transaction
def order_cancel(*, order: Order, caller: Caller, reason: str = "cancelled") -> Order:
    """Cancel an allocated order and give its units back. Cancelling twice changes nothing."""
    locked = order_lock(order.pk)
    if locked.status == OrderStatus.CANCELLED:
        return locked
    locked = order_transition(order=locked, to=OrderStatus.CANCELLED, actor=caller.actor, reason=reason)
    active = allocations_lock(locked.allocations.filter(status__in=HOLDING_STATUSES))
    allocations_transition(allocations=active, to=AllocationStatus.CANCELLED, actor=caller.actor,
                           reason=f"order {locked.pk} {reason}")
    if active:
        post_movements([Movement(a.sku_id, a.location_id, Bucket.COMMITTED, -a.quantity, reason="order_cancelled")
                        for a in active],
                       actor=caller.actor, document_type="order", document_id=str(locked.pk))
    return locked


def _fulfil(allocations: list[Allocation], *, order: Order, caller: Caller, reason: str, now: datetime) -> None:
    allocations_transition(allocations=allocations, to=AllocationStatus.SHIPPED, actor=caller.actor,
                           reason=f"order {order.pk} {reason}", at=now)
    movements = []
    for allocation in allocations:
        movements.append(Movement(allocation.sku_id, allocation.location_id, Bucket.ON_HAND, -allocation.quantity,
                                  reason=f"order_{reason}", occurred_at=now))
        movements.append(Movement(allocation.sku_id, allocation.location_id, Bucket.COMMITTED, -allocation.quantity,
                                  reason=f"order_{reason}", occurred_at=now))
    post_movements(movements, actor=caller.actor, document_type="order", document_id=str(order.pk))


@in_retrying_transaction
def order_ship(*, order: Order, caller: Caller, location_code: str | None = None,
               now: datetime | None = None) -> Order:
    """Ship what is allocated (at one location, when given): the units leave on_hand and
    committed. Shipping a fully shipped order again changes nothing. `now`: when it
    shipped (default: the current time; never ahead of the clock)."""
    now = posting_time(now)
    location = location_by_code(location_code, scope=caller.scope) if location_code else None
    locked = order_lock(order.pk)
    if locked.fulfillment != Fulfillment.SHIP:
        raise InvalidState("A pickup order is collected, not shipped.", current_status=locked.status)
    if locked.status == OrderStatus.SHIPPED:
        return locked
    if locked.status not in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED):
        raise InvalidState(f"The order is {locked.status}; it cannot be shipped.", current_status=locked.status)
    active = allocations_lock(locked.allocations.filter(status__in=HOLDING_STATUSES).select_related("sku", "location"))
    shipping = [a for a in active if location is None or a.location_id == location.pk]
    shipping = [a for a in shipping if caller.scope.allows(a.location_id)]
    if not shipping:
        raise InvalidState("Nothing is left to ship" + (f" from {location.code}." if location else "."),
                           current_status=locked.status)
    target = OrderStatus.SHIPPED if len(shipping) == len(active) else OrderStatus.PARTIALLY_SHIPPED
    locked = order_transition(order=locked, to=target, actor=caller.actor,
                              reason="shipped" + (f" from {location.code}" if location else ""), at=now)
    _fulfil(shipping, order=locked, caller=caller, reason="shipped", now=now)
    # The order's channel system hears of it through the outbox, in this transaction.
    outbox.order_shipped(order_id=locked.pk, external_id=locked.external_id, channel_id=locked.channel_id,
                         status=locked.status,
                         shipped=[(a.sku.code, a.location.code, a.quantity) for a in shipping])
    return locked


def _with_note(reason: str, note: str) -> str:
    return f"{reason}: {note}" if note else reason


@in_retrying_transaction
def order_pickup(*, order: Order, caller: Caller, note: str = "", now: datetime | None = None) -> Order:
    """The customer collected a pickup order. Recording it twice changes nothing. `now`:
    when (default: the current time; never ahead of the clock)."""
    now = posting_time(now)
    locked = order_lock(order.pk)
    if locked.fulfillment != Fulfillment.PICKUP:
        raise InvalidState("A ship order is shipped, not picked up.", current_status=locked.status)
    if locked.status == OrderStatus.PICKED_UP:
        return locked
    if not caller.scope.allows(locked.pickup_location_id):
        raise LocationOutOfScope("The pickup location is outside the caller's location scope.")
    locked = order_transition(order=locked, to=OrderStatus.PICKED_UP, actor=caller.actor,
                              reason=_with_note("picked up", note), at=now)
    active = allocations_lock(locked.allocations.filter(status__in=HOLDING_STATUSES))
    if active:
        _fulfil(active, order=locked, caller=caller, reason="picked_up", now=now)
    return locked


@in_retrying_transaction
def order_acknowledge_pickup(*, order: Order, caller: Caller, note: str = "", now: datetime | None = None) -> Order:
    """The pickup store has seen the order and is preparing it (stops the overdue clock).
    `now`: when (default: the current time; never ahead of the clock)."""
    now = posting_time(now)
    locked = order_lock(order.pk)
    if locked.fulfillment != Fulfillment.PICKUP:
        raise InvalidState("Only pickup orders are acknowledged.", current_status=locked.status)
    if locked.pickup_acknowledged_at is not None:
        return locked
    if locked.status != OrderStatus.ALLOCATED:
        raise InvalidState(f"The order is {locked.status}; there is nothing to acknowledge.",
                           current_status=locked.status)
    if not caller.scope.allows(locked.pickup_location_id):
        raise LocationOutOfScope("The pickup location is outside the caller's location scope.")
    locked.pickup_acknowledged_at = now
    locked.pickup_acknowledged_by = caller.actor
    locked._history_user = caller.actor
    locked._change_reason = _with_note("pickup acknowledged", note)
    locked._history_date = now
    locked.save(update_fields=["pickup_acknowledged_at", "pickup_acknowledged_by", "updated_at"])
    return locked


def pickups_overdue_detect(*, now=None) -> int:
    """Open (or bump) a pickup_overdue case for every pickup order whose store has not
    acknowledged it within the window. One query finds them all."""
    now = now or timezone.now()
    overdue = (
        Order.objects.filter(fulfillment=Fulfillment.PICKUP, status=OrderStatus.ALLOCATED,
                             pickup_acknowledged_at__isnull=True, pickup_ack_due_at__lte=now)
        .select_related("pickup_location", "channel")
        .annotate(value=Sum(ExpressionWrapper(F("lines__quantity") * F("lines__sku__price"),
                                              output_field=DecimalField(max_digits=14, decimal_places=2))))
        .order_by("pickup_ack_due_at")
    )
    count = 0
    for order in overdue:
        late = now - order.pickup_ack_due_at
        raise_case(CaseReport(
            kind=CaseKind.PICKUP_OVERDUE,
            dedup_key=f"pickup_overdue:{order.pk}",
            title=f"Pickup order {order.external_id} not acknowledged at {order.pickup_location.code}",
            detail=f"Due {order.pickup_ack_due_at.isoformat()}; {int(late.total_seconds() // 60)} minutes late.",
            subject=order,
            location_id=order.pickup_location_id,
            money_at_risk=order.value or Decimal("0"),
            context={"order": order.pk, "external_id": order.external_id, "channel": order.channel.code,
                     "due_at": order.pickup_ack_due_at.isoformat()},
        ))
        count += 1
    return count
