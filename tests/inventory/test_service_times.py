"""Services whose time matters take it (`now=`): a count, an adjustment, an order placed,
a pickup acknowledged and collected are recorded — their rows and their ledger movements —
at the time given, and at the current time when none is given. A time ahead of the clock
is refused: the ledger's as-of reads would take those movements for changes still to come."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from inventory import counts
from inventory.adjustments import adjustment_request
from inventory.errors import OccurredInFuture
from inventory.ledger import Movement, post_movements
from inventory.models import Adjustment, Bucket, CycleCount, Location, StockLevel, StockMovement
from orders.callers import Caller
from orders.models import Order
from orders.services import LineInput, order_acknowledge_pickup, order_create, order_pickup
from retailops.access import LocationScope
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
CALLER = Caller(actor=None, external_system_id=None, scope=EVERYWHERE)


@pytest.fixture
def shelf(db):
    class Shelf:
        sku = SkuFactory(code="T-1", unit_cost=Decimal("2.00"))
        store = LocationFactory(code="T-S1", kind=Location.Kind.STORE, pickup=True, pickup_ack_minutes=60)
        web = ChannelFactory(code="web")

    stock(Shelf.sku, Shelf.store, 20)
    return Shelf


def days_ago(days: int):
    return (timezone.now() - timedelta(days=days)).replace(microsecond=0)


def movements_of(document_type: str, document_id) -> list[StockMovement]:
    return list(StockMovement.objects.filter(document_type=document_type, document_id=str(document_id)))


def close_to_now(moment) -> bool:
    return abs(timezone.now() - moment) < timedelta(seconds=30)


def count(shelf, counted: int, **when) -> CycleCount:
    scheduled = counts.count_schedule(location_code="T-S1", selection=CycleCount.Selection.EXPLICIT,
                                      sku_codes=["T-1"], actor=None, scope=EVERYWHERE, **when)
    return counts.count_submit(count=scheduled, lines=[counts.CountedLine("T-1", counted)], actor=None,
                               scope=EVERYWHERE, **when)


def test_a_count_given_a_time_is_recorded_and_posted_at_that_time(shelf):
    at = days_ago(40)
    submitted = count(shelf, 18, now=at)

    assert (submitted.created_at, submitted.submitted_at) == (at, at)
    adjustment = submitted.lines.get().adjustment
    assert (adjustment.counted_at, adjustment.applied_at, adjustment.created_at) == (at, at, at)
    assert [(m.delta, m.occurred_at) for m in movements_of(Adjustment.DOCUMENT_TYPE, adjustment.pk)] == [(-2, at)]
    assert StockLevel.objects.get(sku=shelf.sku).last_counted_at == at
    assert {change.history_date for change in submitted.history.all()} == {at}  # its history says when too


def test_a_count_without_a_time_is_now(shelf):
    submitted = count(shelf, 19)

    assert close_to_now(submitted.submitted_at)
    [movement] = movements_of(Adjustment.DOCUMENT_TYPE, submitted.lines.get().adjustment_id)
    assert close_to_now(movement.occurred_at)


def test_a_count_entered_late_does_not_take_back_a_later_count(shelf):
    count(shelf, 20, now=days_ago(2))
    count(shelf, 20, now=days_ago(9))

    assert StockLevel.objects.get(sku=shelf.sku).last_counted_at == days_ago(2)


def test_an_adjustment_given_a_time_is_applied_and_posted_at_that_time(shelf):
    at = days_ago(75)
    adjustment = adjustment_request(sku_code="T-1", location_code="T-S1", delta=-1, reason="shrink", actor=None,
                                    scope=EVERYWHERE, now=at)

    assert (adjustment.created_at, adjustment.applied_at) == (at, at)
    assert [(m.delta, m.occurred_at) for m in movements_of(Adjustment.DOCUMENT_TYPE, adjustment.pk)] == [(-1, at)]
    assert {change.history_date for change in adjustment.history.all()} == {at}
    default = adjustment_request(sku_code="T-1", location_code="T-S1", delta=1, reason="found_stock", actor=None,
                                 scope=EVERYWHERE)
    assert close_to_now(default.applied_at)
    assert close_to_now(movements_of(Adjustment.DOCUMENT_TYPE, default.pk)[0].occurred_at)


def test_a_pickup_order_given_times_is_placed_acknowledged_and_collected_then(shelf):
    placed_at = days_ago(30)
    order, created = order_create(caller=CALLER, external_id="T-P1", channel_code="web", fulfillment="pickup",
                                  pickup_location_code="T-S1", lines=[LineInput("1", "T-1", 2)], now=placed_at)
    assert created
    assert (order.created_at, order.pickup_ack_due_at) == (placed_at, placed_at + timedelta(minutes=60))
    assert order.allocations.get().created_at == placed_at
    order_acknowledge_pickup(order=order, caller=CALLER, now=placed_at + timedelta(minutes=20))
    order_pickup(order=order, caller=CALLER, now=placed_at + timedelta(hours=3))

    order.refresh_from_db()
    assert order.pickup_acknowledged_at == placed_at + timedelta(minutes=20)
    assert [change.history_date for change in order.history.order_by("history_id")] == [
        placed_at, placed_at + timedelta(minutes=20), placed_at + timedelta(hours=3)]
    moved = sorted((m.reason, m.bucket, m.delta, m.occurred_at) for m in movements_of("order", order.pk))
    assert moved == sorted([
        ("order_allocation", Bucket.COMMITTED, 2, placed_at),
        ("order_picked_up", Bucket.ON_HAND, -2, placed_at + timedelta(hours=3)),
        ("order_picked_up", Bucket.COMMITTED, -2, placed_at + timedelta(hours=3)),
    ])


def test_a_pickup_order_without_times_is_now(shelf):
    order, _ = order_create(caller=CALLER, external_id="T-P2", channel_code="web", fulfillment="pickup",
                            pickup_location_code="T-S1", lines=[LineInput("1", "T-1", 1)])
    order_acknowledge_pickup(order=order, caller=CALLER)
    order.refresh_from_db()

    assert close_to_now(order.created_at) and close_to_now(order.pickup_acknowledged_at)
    assert all(close_to_now(m.occurred_at) for m in movements_of("order", order.pk))


def test_a_time_ahead_of_the_clock_is_refused_and_nothing_is_kept(shelf):
    tomorrow = timezone.now() + timedelta(days=1)
    before = StockMovement.objects.count()

    with pytest.raises(OccurredInFuture):
        adjustment_request(sku_code="T-1", location_code="T-S1", delta=-1, reason="shrink", actor=None,
                           scope=EVERYWHERE, now=tomorrow)
    with pytest.raises(OccurredInFuture):
        order_create(caller=CALLER, external_id="T-P3", channel_code="web", fulfillment="pickup",
                     pickup_location_code="T-S1", lines=[LineInput("1", "T-1", 1)], now=tomorrow)
    with pytest.raises(OccurredInFuture):
        count(shelf, 10, now=tomorrow)
    with pytest.raises(OccurredInFuture), transaction.atomic():  # the ledger refuses it too, whoever posts
        post_movements([Movement(shelf.sku.pk, shelf.store.pk, Bucket.ON_HAND, 1, reason="test", occurred_at=tomorrow)])

    assert StockMovement.objects.count() == before
    assert not Adjustment.objects.exists() and not Order.objects.exists() and not CycleCount.objects.exists()
