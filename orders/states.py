"""Order and allocation statuses, and the moves between them.

The tables are the whole lifecycle: a move not listed here raises `InvalidState`
(409 `invalid_state`, via `retailops.lifecycle.check_transition`). The transition functions
in `orders.transitions` check them under the row lock.
"""

from django.db import models


class OrderStatus(models.TextChoices):
    ALLOCATED = "allocated"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    PICKED_UP = "picked_up"
    CANCELLED = "cancelled"


class Fulfillment(models.TextChoices):
    SHIP = "ship"
    PICKUP = "pickup"


class AllocationOrigin(models.TextChoices):
    HOLD = "hold"  # a checkout hold (POST /reservations); an order may consume it later
    ORDER = "order"  # made by sourcing an order line


class AllocationStatus(models.TextChoices):
    RESERVED = "reserved"
    PICKED = "picked"
    SHIPPED = "shipped"  # left the building: shipped, or collected at a pickup counter
    RELEASED = "released"  # a checkout hold given back by its client
    CANCELLED = "cancelled"  # the order was cancelled
    EXPIRED = "expired"  # a checkout hold outlived its TTL
    REALLOCATED = "reallocated"  # released from its location; the units were sourced again elsewhere


ORDER_TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.ALLOCATED: {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.PICKED_UP,
                            OrderStatus.CANCELLED},
    OrderStatus.PARTIALLY_SHIPPED: {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED},
    OrderStatus.SHIPPED: set(),
    OrderStatus.PICKED_UP: set(),
    OrderStatus.CANCELLED: set(),
}

ALLOCATION_TRANSITIONS: dict[str, set[str]] = {
    AllocationStatus.RESERVED: {AllocationStatus.PICKED, AllocationStatus.SHIPPED, AllocationStatus.RELEASED,
                                AllocationStatus.CANCELLED, AllocationStatus.EXPIRED, AllocationStatus.REALLOCATED},
    AllocationStatus.PICKED: {AllocationStatus.SHIPPED, AllocationStatus.CANCELLED, AllocationStatus.REALLOCATED},
    AllocationStatus.SHIPPED: set(),
    AllocationStatus.RELEASED: set(),
    AllocationStatus.CANCELLED: set(),
    AllocationStatus.EXPIRED: set(),
    AllocationStatus.REALLOCATED: set(),
}

# An order in one of these may still have its open allocations sourced again elsewhere.
REALLOCATABLE_STATUSES = (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED)

# Allocations in these statuses hold units in `committed` at their level.
HOLDING_STATUSES = (AllocationStatus.RESERVED, AllocationStatus.PICKED)
