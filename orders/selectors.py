"""Reads of orders and holds, scoped to the caller in the queryset.

A partner sees only what its own system placed; anyone with a location scope sees only
orders that touch their locations (an allocation there, or the pickup location). Both
rules are one filter on the queryset, so list views and detail views apply the same.
"""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from orders.callers import Caller
from orders.models import Allocation, Order, OrderLine
from orders.states import AllocationOrigin


def orders_for(*, caller: Caller) -> QuerySet[Order]:
    orders = Order.objects.all()
    if caller.is_partner:
        orders = orders.filter(external_system_id=caller.external_system_id)
    if not caller.scope.is_all:
        ids = caller.scope.location_ids
        orders = orders.filter(
            Q(pickup_location_id__in=ids)
            | Exists(Allocation.objects.filter(order=OuterRef("pk"), location_id__in=ids))
        )
    return orders


def orders_with_lines(orders: QuerySet[Order]) -> QuerySet[Order]:
    """What an order's representation needs, in a fixed number of queries for any page."""
    return orders.select_related("channel", "pickup_location").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("sku").order_by("pk")),
        Prefetch("lines__allocations", queryset=Allocation.objects.select_related("location").order_by("pk")),
    )


def reservations_for(*, caller: Caller) -> QuerySet[Allocation]:
    holds = Allocation.objects.filter(origin=AllocationOrigin.HOLD).select_related("sku", "location", "channel")
    if caller.is_partner:
        holds = holds.filter(external_system_id=caller.external_system_id)
    return caller.scope.filter(holds)
