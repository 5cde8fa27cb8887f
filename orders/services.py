"""Every write of the orders app: checkout holds, orders, fulfilment.

Quantities change only through `inventory.ledger.post_movements`:
- reserve / allocate: committed +q, guarded under the row locks (`sourcing.availability_guard`);
- release / cancel / expire: committed −q;
- ship / pickup: on_hand −q and committed −q.

Each service runs in `in_retrying_transaction` (deadlocks and serialization failures are
retried before a client sees them) and takes its locks in one order: Order →
Allocation (by id) → StockLevel (by the ledger, sorted), so services cannot deadlock
each other. A promise that cannot be kept raises `InsufficientStock` and opens (or bumps)
a `reservation_failure` case once the failed transaction has rolled back.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations import outbox
from inventory.errors import InsufficientStock, LocationOutOfScope, UnknownChannel, UnknownLocation, UnknownSku
from inventory.ledger import LevelKey, Movement, PromiseRefused, in_retrying_transaction, post_movements, post_promise
from inventory.models import Bucket, Channel, Location, Sku
from orders import sourcing
from orders.callers import Caller
from orders.errors import OrderExists, ReservationMismatch, UnknownReservation
from orders.models import Allocation, Order, OrderLine
from orders.states import HOLDING_STATUSES, AllocationOrigin, AllocationStatus, Fulfillment, OrderStatus
from orders.transitions import allocations_lock, allocations_transition, order_lock, order_transition
from retailops.errors import InvalidInput, InvalidState
from retailops.sql import create_with_history, placeholders, select_models

DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 86400


# --- Resolving codes -------------------------------------------------------------------


# Codes resolve through fixed SQL (retailops.sql): these run on every order. A hold reads
# its SKU and channel with its levels (`_hold_read`) and comes here only to name a code
# it cannot use.


def _channel(code: str) -> Channel:
    channel = next(iter(select_models(Channel, "code = %s", [code])), None)
    if channel is None or not channel.active:
        raise UnknownChannel(f"Unknown channel '{code}'.", field="channel")
    return channel


def _location(code: str, *, field: str, scope) -> Location:
    location = next(iter(select_models(Location, "code = %s", [code])), None)
    if location is None:
        raise UnknownLocation(f"Unknown location '{code}'.", field=field)
    if not scope.allows(location.pk):
        raise LocationOutOfScope(f"Location '{code}' is outside the caller's location scope.")
    return location


def _skus(codes_by_field: dict[str, str]) -> dict[str, Sku]:
    codes = sorted(set(codes_by_field.values()))
    skus = {sku.code: sku for sku in select_models(Sku, f"code IN ({placeholders(codes)})", codes)}
    for field, code in codes_by_field.items():
        if code not in skus or not skus[code].active:
            raise UnknownSku(f"Unknown SKU '{code}'.", field=field)
    return skus


def _hold_read(sku_code: str, channel_code: str, location_code: str | None,
               ) -> tuple[Sku, Channel, list[tuple]]:
    """A hold's SKU, channel and snapshot rows (at `location_code` only, when given) in one
    statement (`sourcing.read_for_hold`). An unknown or inactive SKU or channel raises the
    error naming its field, as `_skus` and `_channel` do; the location is `_location`'s."""
    for _read in range(2):
        read = sourcing.read_for_hold(sku_code, channel_code, location_code)
        if read is not None and read[0].active and read[1].active:
            return read
        _skus({"sku": sku_code})
        _channel(channel_code)
        # Both are there now: they were created or activated between the two reads.
    raise UnknownSku(f"Unknown SKU '{sku_code}'.", field="sku")


def pickup_ack_window(location: Location) -> timedelta:
    """How long `location` has to acknowledge a pickup order: its own window, else the default."""
    return timedelta(minutes=location.pickup_ack_minutes or settings.PICKUP_ACK_WINDOW_MINUTES)


# --- Reservation failures become cases -------------------------------------------------


def _report_reservation_failure(*, error: InsufficientStock, sku: Sku, channel: Channel, location: Location | None,
                                quantity: int, caller: Caller, document: str) -> None:
    where = f"location:{location.pk}" if location else f"channel:{channel.pk}"
    raise_case(CaseReport(
        kind=CaseKind.RESERVATION_FAILURE,
        dedup_key=f"reservation_failure:{sku.pk}:{where}",
        title=f"Could not promise {quantity} × {sku.code} to {channel.code}"
              + (f" at {location.code}" if location else ""),
        detail=error.detail,
        sku_id=sku.pk,
        location_id=location.pk if location else None,
        money_at_risk=Decimal(quantity) * sku.price,
        context={"channel": channel.code, "requested": quantity, "document": document, **error.extra},
    ), actor=caller.actor)


# --- Checkout holds ----------------------------------------------------------------------


def reservation_create(*, caller: Caller, sku_code: str, quantity: int, channel_code: str,
                       location_code: str | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS,
                       reference: str = "", fulfillment: str = Fulfillment.SHIP, region: str = "") -> Allocation:
    """Hold `quantity` units for `ttl_seconds` at one location (given, or chosen by sourcing)."""
    if quantity <= 0:
        raise InvalidInput("quantity must be positive.", code="min_value", field="quantity")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"ttl_seconds must be 1 to {MAX_TTL_SECONDS}.", code="max_value", field="ttl_seconds")
    sku, channel, rows = _hold_read(sku_code, channel_code, location_code or None)
    location = _location(location_code, field="location", scope=caller.scope) if location_code else None
    if fulfillment == Fulfillment.PICKUP and location is None:
        raise InvalidInput("A pickup hold needs its pickup location.", code="required", field="location")
    pickup_location_id = location.pk if fulfillment == Fulfillment.PICKUP else None
    demand = sourcing.Demand(line_id="", sku_id=sku.pk, sku=sku.code, quantity=quantity)
    snapshot = sourcing.Snapshot.of_rows(rows, channel=channel, scope=caller.scope,
                                         pickup_location_id=pickup_location_id)

    def attempt(plans: list[sourcing.LinePlan], attempt_number: int) -> Allocation:
        (line_plan,) = plans
        ((location_id, _quantity),) = line_plan.takes
        hold = create_with_history(
            Allocation, history_user=caller.actor,
            sku_id=sku.pk, location_id=location_id, channel_id=channel.pk, quantity=quantity,
            origin=AllocationOrigin.HOLD, status=AllocationStatus.RESERVED,
            expires_at=timezone.now() + timedelta(seconds=ttl_seconds), reference=reference, order_id=None,
            line_id=None, external_system_id=caller.external_system_id,
            created_by_id=getattr(caller.actor, "pk", None),
            sourcing={**line_plan.explanation, "attempt": attempt_number},
        )
        candidate = snapshot.candidate((sku.pk, location_id))
        try:
            post_promise(Movement(sku.pk, location_id, Bucket.COMMITTED, quantity, reason="reservation"),
                         required_available=quantity + channel.safety_buffer, location_fields=candidate.decided_on,
                         actor=caller.actor, document_type="reservation", document_id=str(hold.pk))
        except PromiseRefused as refused:
            seen = {} if refused.available is None else {candidate.key: refused.available - channel.safety_buffer}
            raise sourcing.StockMoved(seen, {location_id} if refused.location_changed else set()) from refused
        # What the response shows, from what this request already read: no second query.
        hold.sku, hold.channel = sku, channel
        hold.location = Location(pk=location_id, code=candidate.location, kind=candidate.kind,
                                 region=candidate.region)
        return hold

    try:
        return _sourced(demands=[demand], snapshot=snapshot, region=region, allow_split=False,
                        requested_location_id=location.pk if location else None, attempt=attempt)
    except InsufficientStock as error:
        _report_reservation_failure(error=error, sku=sku, channel=channel, location=location, quantity=quantity,
                                    caller=caller, document=f"reservation {reference}".strip())
        raise


def _sourced(*, demands, snapshot, region, allow_split, requested_location_id, attempt):
    """Plan, then post under the guard; when stock moved under the plan, plan again with
    what the guard saw (bounded). Each attempt is its own savepoint."""
    for attempt_number in range(1, sourcing.MAX_ATTEMPTS + 1):
        plans = sourcing.plan(demands=demands, snapshot=snapshot, region=region, allow_split=allow_split,
                              requested_location_id=requested_location_id)
        try:
            return in_retrying_transaction(lambda plans=plans, n=attempt_number: attempt(plans, n))
        except sourcing.StockMoved as moved:
            snapshot.refresh(moved)
    raise InsufficientStock("Stock kept moving while sourcing; nothing was held. Retry shortly.")


def reservation_release(*, reservation: Allocation, caller: Caller, reason: str = "released by client") -> Allocation:
    """Give a hold's units back. Releasing a released or expired hold changes nothing."""

    def work() -> Allocation:
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

    return in_retrying_transaction(work)


def reservations_expire_due(*, now=None, batch_size: int = 500) -> int:
    """Expire every hold past its TTL; returns how many. Set-based: one statement finds
    a batch of due holds and locks them (SKIP LOCKED: a hold an order is consuming right
    now is left to that order), one posting gives their units back."""
    now = now or timezone.now()
    total = 0
    while True:
        expired = in_retrying_transaction(lambda: _expire_batch(now=now, batch_size=batch_size))
        total += expired
        if expired < batch_size:
            return total


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


# --- Orders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    line_id: str
    sku: str
    quantity: int
    reservation: int | None = None


def _content_hash(*, fulfillment: str, pickup_location: str | None, region: str, lines: list[LineInput]) -> str:
    content = {
        "fulfillment": fulfillment,
        "pickup_location": pickup_location,
        "region": region or "",
        "lines": sorted(
            ({"line_id": line.line_id, "sku": line.sku, "quantity": line.quantity, "reservation": line.reservation}
             for line in lines),
            key=lambda line: line["line_id"],
        ),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


class _DuplicateOrder(Exception):
    pass


def _same_order(*, channel: Channel, external_id: str, content_hash: str, caller: Caller) -> Order | None:
    """The existing order when this is a resend of it; OrderExists when the id is taken."""
    existing = Order.objects.filter(channel=channel, external_id=external_id).first()
    if existing is None:
        return None
    if existing.content_hash != content_hash or existing.external_system_id != caller.external_system_id:
        raise OrderExists(f"Order '{external_id}' already exists on channel '{channel.code}' with other content.")
    return existing


def order_create(*, caller: Caller, external_id: str, channel_code: str, fulfillment: str,
                 lines: list[LineInput], pickup_location_code: str | None = None,
                 region: str = "") -> tuple[Order, bool]:
    """Place an order and allocate every line, all or nothing. Returns (order, created);
    a resend of the same order returns the existing one."""
    channel = _channel(channel_code)
    if not lines:
        raise InvalidInput("An order needs at least one line.", code="required", field="lines")
    skus = _skus({f"lines[{index}].sku": line.sku for index, line in enumerate(lines)})
    seen_lines: set[str] = set()
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidInput("quantity must be positive.", code="min_value", field=f"lines[{index}].quantity")
        if line.line_id in seen_lines:
            raise InvalidInput(f"line_id '{line.line_id}' appears twice.", code="duplicate_line_id",
                               field=f"lines[{index}].line_id")
        seen_lines.add(line.line_id)
    pickup_location = None
    if fulfillment == Fulfillment.PICKUP:
        if not pickup_location_code:
            raise InvalidInput("A pickup order needs pickup_location.", code="required", field="pickup_location")
        pickup_location = _location(pickup_location_code, field="pickup_location", scope=caller.scope)
    elif pickup_location_code:
        raise InvalidInput("Only pickup orders take pickup_location.", code="invalid", field="pickup_location")

    content_hash = _content_hash(fulfillment=fulfillment, pickup_location=pickup_location_code, region=region,
                                 lines=lines)
    existing = _same_order(channel=channel, external_id=external_id, content_hash=content_hash, caller=caller)
    if existing is not None:
        return existing, False
    try:
        order = in_retrying_transaction(lambda: _order_place(
            caller=caller, external_id=external_id, channel=channel, fulfillment=fulfillment,
            pickup_location=pickup_location, region=region, lines=lines, skus=skus, content_hash=content_hash,
        ))
    except _DuplicateOrder:  # a concurrent request placed it first
        existing = _same_order(channel=channel, external_id=external_id, content_hash=content_hash, caller=caller)
        if existing is None:
            raise
        return existing, False
    except InsufficientStock as error:
        line = next((line for line in lines if line.line_id == error.extra.get("line_id")), lines[0])
        _report_reservation_failure(error=error, sku=skus[line.sku], channel=channel, location=pickup_location,
                                    quantity=line.quantity, caller=caller, document=f"order {external_id}")
        raise
    return order, True


def _order_place(*, caller, external_id, channel, fulfillment, pickup_location, region, lines, skus,
                 content_hash) -> Order:
    now = timezone.now()
    order = Order(
        channel=channel, external_id=external_id, fulfillment=fulfillment, pickup_location=pickup_location,
        status=OrderStatus.ALLOCATED, external_system_id=caller.external_system_id, created_by=caller.actor,
        content_hash=content_hash,
        pickup_ack_due_at=now + pickup_ack_window(pickup_location) if pickup_location else None,
    )
    order._history_user = caller.actor
    order._change_reason = "placed"
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError as exc:
        raise _DuplicateOrder() from exc

    pickup_location_id = pickup_location.pk if pickup_location else None
    consumed, released, expired = _take_holds(order=order, caller=caller, channel=channel, lines=lines, skus=skus,
                                              pickup_location_id=pickup_location_id, now=now)
    taken_from_holds = {line_id: hold.quantity for line_id, hold in consumed.items()}
    demands = [
        sourcing.Demand(line_id=line.line_id, sku_id=skus[line.sku].pk, sku=line.sku,
                        quantity=line.quantity - taken_from_holds.get(line.line_id, 0))
        for line in lines if line.quantity > taken_from_holds.get(line.line_id, 0)
    ]
    snapshot = sourcing.Snapshot.read(sku_ids={demand.sku_id for demand in demands}, channel=channel,
                                      scope=caller.scope, pickup_location_id=pickup_location_id)
    for key, quantity in released.items():
        snapshot.give_back(key, quantity)

    def attempt(plans: list[sourcing.LinePlan], attempt_number: int) -> list[sourcing.LinePlan]:
        demand: dict[LevelKey, int] = {key: -quantity for key, quantity in released.items()}
        movements = [Movement(sku_id, location_id, Bucket.COMMITTED, -quantity, reason="reservation_released")
                     for (sku_id, location_id), quantity in released.items()]
        for line_plan in plans:
            for location_id, quantity in line_plan.takes:
                key = (line_plan.demand.sku_id, location_id)
                demand[key] = demand.get(key, 0) + quantity
                movements.append(Movement(*key, Bucket.COMMITTED, quantity, reason="order_allocation"))
            line_plan.explanation["attempt"] = attempt_number
        if movements:
            post_movements(movements, actor=caller.actor, document_type="order", document_id=str(order.pk),
                           guard=sourcing.availability_guard(demand=demand, channel=channel,
                                                             pickup_location_id=pickup_location_id,
                                                             scope=caller.scope))
        return plans

    if demands:
        plans = _sourced(demands=demands, snapshot=snapshot, region=region, allow_split=True,
                         requested_location_id=None, attempt=attempt)
    else:
        plans = attempt([], 1)
    explanations = {line_plan.demand.line_id: line_plan.explanation for line_plan in plans}

    order_lines = {line.line_id: OrderLine(
        order=order, line_id=line.line_id, sku=skus[line.sku], quantity=line.quantity,
        sourcing=_line_explanation(explanations.get(line.line_id), consumed.get(line.line_id), expired),
    ) for line in lines}
    OrderLine.objects.bulk_create(order_lines.values())
    new_allocations = [
        Allocation(sku_id=line_plan.demand.sku_id, location_id=location_id, channel=channel, quantity=quantity,
                   origin=AllocationOrigin.ORDER, order=order, line=order_lines[line_plan.demand.line_id],
                   external_system_id=caller.external_system_id, created_by=caller.actor,
                   sourcing=line_plan.explanation)
        for line_plan in plans for location_id, quantity in line_plan.takes
    ]
    bulk_create_with_history(new_allocations, Allocation, default_user=caller.actor,
                             default_change_reason=f"allocated to order {order.pk}")
    if consumed:
        for line_id, hold in consumed.items():
            hold.order, hold.line, hold.updated_at = order, order_lines[line_id], now
        bulk_update_with_history(list(consumed.values()), Allocation, ["order", "line", "quantity", "updated_at"],
                                 default_user=caller.actor, default_change_reason=f"consumed by order {order.pk}")
    return order


def _line_explanation(explanation: dict | None, hold: Allocation | None, expired: dict[int, str]) -> dict:
    result = dict(explanation or {})
    if hold is not None:
        result["reservation"] = {"id": hold.pk, "quantity": hold.quantity, "rule": sourcing.RULE_RESERVATION}
        result.setdefault("rule", sourcing.RULE_RESERVATION)
    result["holds_not_used"] = [{"id": pk, "why": why} for pk, why in expired.items()] or None
    if result["holds_not_used"] is None:
        del result["holds_not_used"]
    return result


def _take_holds(*, order, caller, channel, lines, skus, pickup_location_id, now):
    """Lock the holds the lines name and decide what each contributes.

    Returns (consumed: line_id → hold now serving it, trimmed to the line's quantity;
    released: level key → units given back by expired or trimmed holds, posted together
    with the allocation; not_used: hold id → why it was sourced afresh instead)."""
    wanted = {line.reservation: (index, line) for index, line in enumerate(lines) if line.reservation is not None}
    if len(wanted) != sum(1 for line in lines if line.reservation is not None):
        raise InvalidInput("A reservation can serve one line only.", code="duplicate_reservation", field="lines")
    if not wanted:
        return {}, {}, {}
    holds = {hold.pk: hold for hold in allocations_lock(Allocation.objects.filter(
        pk__in=wanted, origin=AllocationOrigin.HOLD, external_system_id=caller.external_system_id))}
    consumed: dict[str, Allocation] = {}
    released: dict[LevelKey, int] = {}
    not_used: dict[int, str] = {}
    to_expire: list[Allocation] = []
    for hold_id, (index, line) in sorted(wanted.items()):
        field = f"lines[{index}].reservation"
        hold = holds.get(hold_id)
        if hold is None or not caller.scope.allows(hold.location_id):
            raise UnknownReservation(f"Unknown reservation {hold_id}.", field=field)
        if hold.sku_id != skus[line.sku].pk or hold.channel_id != channel.pk or (
                pickup_location_id is not None and hold.location_id != pickup_location_id):
            raise ReservationMismatch(f"Reservation {hold_id} is for another SKU, channel or location.", field=field)
        if hold.line_id is not None:
            raise InvalidState(f"Reservation {hold_id} was already consumed by order {hold.order_id}.")
        if hold.status != AllocationStatus.RESERVED:
            not_used[hold.pk] = hold.status
            continue
        if hold.expires_at is not None and hold.expires_at <= now:
            not_used[hold.pk] = AllocationStatus.EXPIRED
            to_expire.append(hold)
            released[(hold.sku_id, hold.location_id)] = released.get((hold.sku_id, hold.location_id), 0) + hold.quantity
            continue
        excess = hold.quantity - line.quantity
        if excess > 0:
            released[(hold.sku_id, hold.location_id)] = released.get((hold.sku_id, hold.location_id), 0) + excess
            hold.quantity = line.quantity
        consumed[line.line_id] = hold
    if to_expire:
        allocations_transition(allocations=to_expire, to=AllocationStatus.EXPIRED, actor=caller.actor,
                               reason=f"hold expired before order {order.pk} could use it")
    return consumed, released, not_used


def order_cancel(*, order: Order, caller: Caller, reason: str = "cancelled") -> Order:
    """Cancel an allocated order and give its units back. Cancelling twice changes nothing."""

    def work() -> Order:
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

    return in_retrying_transaction(work)


def _fulfil(allocations: list[Allocation], *, order: Order, caller: Caller, reason: str) -> None:
    allocations_transition(allocations=allocations, to=AllocationStatus.SHIPPED, actor=caller.actor,
                           reason=f"order {order.pk} {reason}")
    movements = []
    for allocation in allocations:
        movements.append(Movement(allocation.sku_id, allocation.location_id, Bucket.ON_HAND, -allocation.quantity,
                                  reason=f"order_{reason}"))
        movements.append(Movement(allocation.sku_id, allocation.location_id, Bucket.COMMITTED, -allocation.quantity,
                                  reason=f"order_{reason}"))
    post_movements(movements, actor=caller.actor, document_type="order", document_id=str(order.pk))


def order_ship(*, order: Order, caller: Caller, location_code: str | None = None) -> Order:
    """Ship what is allocated (at one location, when given): the units leave on_hand and
    committed. Shipping a fully shipped order again changes nothing."""
    location = _location(location_code, field="location", scope=caller.scope) if location_code else None

    def work() -> Order:
        locked = order_lock(order.pk)
        if locked.fulfillment != Fulfillment.SHIP:
            raise InvalidState("A pickup order is collected, not shipped.", current_status=locked.status)
        if locked.status == OrderStatus.SHIPPED:
            return locked
        if locked.status not in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED):
            raise InvalidState(f"The order is {locked.status}; it cannot be shipped.", current_status=locked.status)
        active = allocations_lock(locked.allocations.filter(status__in=HOLDING_STATUSES))
        shipping = [a for a in active if location is None or a.location_id == location.pk]
        shipping = [a for a in shipping if caller.scope.allows(a.location_id)]
        if not shipping:
            raise InvalidState("Nothing is left to ship" + (f" from {location.code}." if location else "."),
                               current_status=locked.status)
        target = OrderStatus.SHIPPED if len(shipping) == len(active) else OrderStatus.PARTIALLY_SHIPPED
        locked = order_transition(order=locked, to=target, actor=caller.actor,
                                  reason="shipped" + (f" from {location.code}" if location else ""))
        _fulfil(shipping, order=locked, caller=caller, reason="shipped")
        # The order's channel system hears of it through the outbox, in this transaction.
        outbox.order_shipped(order_id=locked.pk, external_id=locked.external_id, channel_id=locked.channel_id,
                             status=locked.status,
                             shipped=[(a.sku_id, a.location_id, a.quantity) for a in shipping])
        return locked

    return in_retrying_transaction(work)


def _with_note(reason: str, note: str) -> str:
    return f"{reason}: {note}" if note else reason


def order_pickup(*, order: Order, caller: Caller, note: str = "") -> Order:
    """The customer collected a pickup order. Recording it twice changes nothing."""

    def work() -> Order:
        locked = order_lock(order.pk)
        if locked.fulfillment != Fulfillment.PICKUP:
            raise InvalidState("A ship order is shipped, not picked up.", current_status=locked.status)
        if locked.status == OrderStatus.PICKED_UP:
            return locked
        if not caller.scope.allows(locked.pickup_location_id):
            raise LocationOutOfScope("The pickup location is outside the caller's location scope.")
        locked = order_transition(order=locked, to=OrderStatus.PICKED_UP, actor=caller.actor,
                                  reason=_with_note("picked up", note))
        active = allocations_lock(locked.allocations.filter(status__in=HOLDING_STATUSES))
        if active:
            _fulfil(active, order=locked, caller=caller, reason="picked_up")
        return locked

    return in_retrying_transaction(work)


def order_acknowledge_pickup(*, order: Order, caller: Caller, note: str = "") -> Order:
    """The pickup store has seen the order and is preparing it (stops the overdue clock)."""

    def work() -> Order:
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
        locked.pickup_acknowledged_at = timezone.now()
        locked.pickup_acknowledged_by = caller.actor
        locked._history_user = caller.actor
        locked._change_reason = _with_note("pickup acknowledged", note)
        locked.save(update_fields=["pickup_acknowledged_at", "pickup_acknowledged_by", "updated_at"])
        return locked

    return in_retrying_transaction(work)


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
