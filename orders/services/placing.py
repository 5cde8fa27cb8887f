"""Placing an order: every line allocated, all or nothing, consuming the holds it names."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from inventory.errors import InsufficientStock
from inventory.ledger import LevelKey, Movement, NotAvailable, post_movements, posting_time
from inventory.models import Bucket, Channel
from inventory.selectors import active_skus, channel_by_code, location_by_code
from orders import sourcing
from orders.callers import Caller
from orders.errors import OrderExists, ReservationMismatch, UnknownReservation
from orders.models import Allocation, Order, OrderLine
from orders.services.fulfilment import pickup_ack_window
from orders.services.promising import report_reservation_failure, sourced
from orders.states import AllocationOrigin, AllocationStatus, Fulfillment, OrderStatus
from orders.transitions import allocations_lock, allocations_transition
from retailops.errors import InvalidInput, InvalidState
from retailops.transactions import in_retrying_transaction


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
                 region: str = "", now: datetime | None = None) -> tuple[Order, bool]:
    """Place an order and allocate every line, all or nothing. Returns (order, created);
    a resend of the same order returns the existing one. `now`: when it was placed
    (default: the current time; never ahead of the clock)."""
    now = posting_time(now)
    channel = channel_by_code(channel_code)
    if not lines:
        raise InvalidInput("An order needs at least one line.", code="required", field="lines")
    skus = active_skus({f"lines[{index}].sku": line.sku for index, line in enumerate(lines)})
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
        pickup_location = location_by_code(pickup_location_code, field="pickup_location", scope=caller.scope)
    elif pickup_location_code:
        raise InvalidInput("Only pickup orders take pickup_location.", code="invalid", field="pickup_location")

    content_hash = _content_hash(fulfillment=fulfillment, pickup_location=pickup_location_code, region=region,
                                 lines=lines)
    existing = _same_order(channel=channel, external_id=external_id, content_hash=content_hash, caller=caller)
    if existing is not None:
        return existing, False
    try:
        order = _order_place(caller=caller, external_id=external_id, channel=channel, fulfillment=fulfillment,
                             pickup_location=pickup_location, region=region, lines=lines, skus=skus,
                             content_hash=content_hash, now=now)
    except _DuplicateOrder:  # a concurrent request placed it first
        existing = _same_order(channel=channel, external_id=external_id, content_hash=content_hash, caller=caller)
        if existing is None:
            raise
        return existing, False
    except InsufficientStock as error:
        line = next((line for line in lines if line.line_id == error.extra.get("line_id")), lines[0])
        report_reservation_failure(error=error, sku=skus[line.sku], channel=channel, location=pickup_location,
                                   quantity=line.quantity, caller=caller, document=f"order {external_id}")
        raise
    return order, True


@in_retrying_transaction
def _order_place(*, caller, external_id, channel, fulfillment, pickup_location, region, lines, skus,
                 content_hash, now: datetime) -> Order:
    order = Order(
        channel=channel, external_id=external_id, fulfillment=fulfillment, pickup_location=pickup_location,
        status=OrderStatus.ALLOCATED, external_system_id=caller.external_system_id, created_by=caller.actor,
        content_hash=content_hash, created_at=now,
        pickup_ack_due_at=now + pickup_ack_window(pickup_location) if pickup_location else None,
    )
    order._history_user = caller.actor
    order._change_reason = "placed"
    order._history_date = now
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
        net: dict[LevelKey, int] = {key: -quantity for key, quantity in released.items()}
        movements = [Movement(sku_id, location_id, Bucket.COMMITTED, -quantity, reason="reservation_released",
                              occurred_at=now)
                     for (sku_id, location_id), quantity in released.items()]
        for line_plan in plans:
            for location_id, quantity in line_plan.takes:
                key = (line_plan.demand.sku_id, location_id)
                net[key] = net.get(key, 0) + quantity
                movements.append(Movement(*key, Bucket.COMMITTED, quantity, reason="order_allocation",
                                          occurred_at=now))
            line_plan.explanation["attempt"] = attempt_number
        # Where the order takes more than it gives back, the units must be there after the channel's buffer.
        required = {key: quantity + channel.safety_buffer for key, quantity in net.items() if quantity > 0}
        try:
            post_movements(movements, require_available=required, actor=caller.actor, document_type="order",
                           document_id=str(order.pk))
        except NotAvailable as refused:
            seen = {} if refused.available is None else {
                refused.key: refused.available - channel.safety_buffer + released.get(refused.key, 0)}
            raise sourcing.StockMoved(seen) from refused
        return plans

    if demands:
        plans = sourced(demands=demands, snapshot=snapshot, region=region, allow_split=True,
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
                   sourcing=line_plan.explanation, created_at=now)
        for line_plan in plans for location_id, quantity in line_plan.takes
    ]
    bulk_create_with_history(new_allocations, Allocation, default_user=caller.actor,
                             default_change_reason=f"allocated to order {order.pk}", default_date=now)
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
