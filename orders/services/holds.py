"""Checkout holds: units reserved for a shopper for a while, at one location."""

from datetime import timedelta

from django.utils import timezone

from inventory.eligibility import available_after_buffer
from inventory.errors import InsufficientStock
from inventory.ledger import Movement, NotAvailable, post_movements
from inventory.models import Bucket
from inventory.selectors import active_skus, channel_by_code, location_by_code
from orders import sourcing
from orders.callers import Caller
from orders.models import Allocation
from orders.services.promising import report_reservation_failure, sourced
from orders.states import AllocationOrigin, AllocationStatus, Fulfillment
from orders.transitions import allocations_lock, allocations_transition
from retailops.errors import InvalidInput, InvalidState
from retailops.transactions import in_retrying_transaction

DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 86400


def reservation_create(*, caller: Caller, sku_code: str, quantity: int, channel_code: str,
                       location_code: str | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                       reference: str = "", fulfillment: str = Fulfillment.SHIP, region: str = "") -> Allocation:
    """Hold `quantity` units for `ttl_seconds` at one location (given, or chosen by sourcing)."""
    if quantity <= 0:
        raise InvalidInput("quantity must be positive.", code="min_value", field="quantity")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"ttl_seconds must be 1 to {MAX_TTL_SECONDS}.", code="max_value", field="ttl_seconds")
    sku = active_skus({"sku": sku_code})[sku_code]
    channel = channel_by_code(channel_code)
    location = location_by_code(location_code, scope=caller.scope) if location_code else None
    if fulfillment == Fulfillment.PICKUP and location is None:
        raise InvalidInput("A pickup hold needs its pickup location.", code="required", field="location")
    pickup_location_id = location.pk if fulfillment == Fulfillment.PICKUP else None
    snapshot = sourcing.Snapshot.read(sku_ids={sku.pk}, channel=channel, scope=caller.scope,
                                      pickup_location_id=pickup_location_id,
                                      location_id=location.pk if location else None)

    def attempt(plans: list[sourcing.LinePlan], attempt_number: int) -> Allocation:
        (line_plan,) = plans
        ((location_id, _quantity),) = line_plan.takes
        hold = Allocation(
            sku=sku, location_id=location_id, channel=channel, quantity=quantity, origin=AllocationOrigin.HOLD,
            status=AllocationStatus.RESERVED, expires_at=timezone.now() + timedelta(seconds=ttl_seconds),
            reference=reference, external_system_id=caller.external_system_id, created_by=caller.actor,
            sourcing={**line_plan.explanation, "attempt": attempt_number},
        )
        hold._history_user = caller.actor
        hold.save()
        key = (sku.pk, location_id)
        try:
            post_movements([Movement(*key, Bucket.COMMITTED, quantity, reason="reservation")],
                           require_available={key: quantity + channel.safety_buffer}, actor=caller.actor,
                           document_type="reservation", document_id=str(hold.pk))
        except NotAvailable as refused:
            seen = {} if refused.available is None else {key: available_after_buffer(refused.available, channel)}
            raise sourcing.StockMoved(seen) from refused
        return hold

    demand = sourcing.Demand(line_id="", sku_id=sku.pk, sku=sku.code, quantity=quantity)
    try:
        hold = sourced(demands=[demand], snapshot=snapshot, region=region, allow_split=False,
                       requested_location_id=location.pk if location else None, attempt=attempt)
    except InsufficientStock as error:
        report_reservation_failure(error=error, sku=sku, channel=channel, location=location, quantity=quantity,
                                   caller=caller, document=f"reservation {reference}".strip())
        raise
    # The hold as its caller shows it: with its SKU, channel and location.
    hold.location = location or location_by_code(snapshot.candidate((sku.pk, hold.location_id)).location)
    return hold


@in_retrying_transaction
def reservation_release(*, reservation: Allocation, caller: Caller, reason: str = "released by client") -> Allocation:
    """Give a hold's units back. Releasing a released or expired hold changes nothing."""
    (hold,) = allocations_lock(Allocation.objects.filter(pk=reservation.pk))
    if hold.status in (AllocationStatus.RELEASED, AllocationStatus.EXPIRED):
        return hold
    if hold.line_id is not None:
        raise InvalidState(f"Reservation {hold.pk} was consumed by order {hold.order_id}; cancel the order.")
    (hold,) = allocations_transition(allocations=[hold], to=AllocationStatus.RELEASED, actor=caller.actor,
                                     reason=reason)
    post_movements([Movement(hold.sku_id, hold.location_id, Bucket.COMMITTED, -hold.quantity,
                             reason="reservation_released")],
                   actor=caller.actor, document_type="reservation", document_id=str(hold.pk))
    return hold


def reservations_expire_due(*, now=None, batch_size: int = 500) -> int:
    """Expire every hold past its TTL; returns how many. Set-based: one statement finds
    a batch of due holds and locks them (SKIP LOCKED: a hold an order is consuming right
    now is left to that order), one posting gives their units back."""
    now = now or timezone.now()
    total = 0
    while True:
        expired = _expire_batch(now=now, batch_size=batch_size)
        total += expired
        if expired < batch_size:
            return total


@in_retrying_transaction
def _expire_batch(*, now, batch_size: int) -> int:
    due = list(
        Allocation.objects.select_for_update(skip_locked=True)
        .filter(status=AllocationStatus.RESERVED, line__isnull=True, expires_at__lte=now)
        .order_by("pk")[:batch_size]
    )
    if not due:
        return 0
    batch = f"{due[0].pk}-{due[-1].pk}@{now:%Y%m%dT%H%M%S}"
    expired = allocations_transition(allocations=due, to=AllocationStatus.EXPIRED, actor=None,
                                     reason=f"hold expired (batch {batch})")
    post_movements(
        [Movement(hold.sku_id, hold.location_id, Bucket.COMMITTED, -hold.quantity, reason="reservation_expired")
         for hold in expired],
        document_type="reservation_expiry", document_id=batch[:64],
    )
    return len(expired)
