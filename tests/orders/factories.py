"""Factories for orders. Stock moves only through the ledger: `stock()` receives units
with a real posting, and orders that hold stock are made through the services (or the
API). `OrderFactory` and friends write rows without ledger effects: use them for reads
(lists, screens, detectors), never where `committed` must add up."""

from datetime import timedelta

import factory
from django.utils import timezone

from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from orders.callers import Caller
from orders.models import Allocation, Order, OrderLine
from orders.services import LineInput, order_create
from orders.states import AllocationOrigin, AllocationStatus, Fulfillment, OrderStatus
from retailops.access import location_scope_for_user
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory


def stock(sku, location, on_hand: int, **buckets: int) -> None:
    """Receive `on_hand` units (and any other bucket amounts) through the ledger."""
    amounts = {Bucket.ON_HAND: on_hand, **buckets}
    post_movements([Movement(sku.pk, location.pk, bucket, delta, reason="test_receipt")
                    for bucket, delta in amounts.items() if delta])


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    channel = factory.SubFactory(ChannelFactory)
    external_id = factory.Sequence(lambda n: f"EXT-{n:05d}")
    fulfillment = Fulfillment.SHIP
    status = OrderStatus.ALLOCATED
    content_hash = factory.Faker("sha256")

    class Params:
        pickup = factory.Trait(
            fulfillment=Fulfillment.PICKUP,
            pickup_location=factory.SubFactory(LocationFactory),
            pickup_ack_due_at=factory.LazyFunction(lambda: timezone.now() + timedelta(hours=2)),
        )
        overdue = factory.Trait(
            fulfillment=Fulfillment.PICKUP,
            pickup_location=factory.SubFactory(LocationFactory),
            pickup_ack_due_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5)),
        )
        cancelled = factory.Trait(status=OrderStatus.CANCELLED)
        shipped = factory.Trait(status=OrderStatus.SHIPPED)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    line_id = factory.Sequence(lambda n: f"L{n}")
    sku = factory.SubFactory(SkuFactory)
    quantity = 1


class AllocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Allocation

    line = factory.SubFactory(OrderLineFactory)
    order = factory.SelfAttribute("line.order")
    sku = factory.SelfAttribute("line.sku")
    channel = factory.SelfAttribute("line.order.channel")
    location = factory.SubFactory(LocationFactory)
    quantity = factory.SelfAttribute("line.quantity")
    origin = AllocationOrigin.ORDER
    status = AllocationStatus.RESERVED


def staff_caller(user) -> Caller:
    """The Caller a staff screen builds for `user` (their role's location scope)."""
    return Caller(actor=user, external_system_id=None, scope=location_scope_for_user(user))


def order_placed(*, caller: Caller, lines: list[tuple[str, str, int]], external_id: str | None = None,
                 channel: str = "web", fulfillment: str = Fulfillment.SHIP, pickup_location: str | None = None,
                 region: str = "") -> Order:
    """Place an order through the service (real sourcing, real ledger postings).
    `lines` are (line_id, sku code, quantity); stock them first with `stock()`."""
    order, _created = order_create(
        caller=caller, external_id=external_id or f"PLACED-{Order.objects.count() + 1:05d}", channel_code=channel,
        fulfillment=fulfillment, pickup_location_code=pickup_location, region=region,
        lines=[LineInput(line_id=line_id, sku=sku, quantity=quantity) for line_id, sku, quantity in lines],
    )
    return order
