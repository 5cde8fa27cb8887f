"""Every write of the orders app: checkout holds, orders, fulfilment.

Quantities change only through `inventory.ledger.post_movements`:
- reserve / allocate: committed +q, a promise (refused unless the units are available);
- release / cancel / expire: committed −q;
- ship / pickup: on_hand −q and committed −q, a fact.

Each service runs in `in_retrying_transaction` (deadlocks and serialization failures are
retried before a client sees them) and takes its locks in one order: Order →
Allocation (by id) → StockLevel (by the ledger, sorted), so services cannot deadlock
each other. A promise that cannot be kept raises `InsufficientStock` and opens (or bumps)
a `reservation_failure` case once the failed transaction has rolled back.

- `holds`: checkout holds (reserve, release, expire);
- `placing`: orders, all lines allocated or none, consuming the holds they name;
- `fulfilment`: cancel, ship, pickup, the pickup counter's acknowledgement;
- `promising`: what holds and orders share: plan, promise, plan again;
- `resourcing`: an order's open allocations at one location sourced again elsewhere.
"""

from orders.services.fulfilment import (
    order_acknowledge_pickup,
    order_cancel,
    order_pickup,
    order_ship,
    pickup_ack_window,
    pickups_overdue_detect,
)
from orders.services.holds import (
    DEFAULT_TTL_SECONDS,
    MAX_TTL_SECONDS,
    reservation_create,
    reservation_release,
    reservations_expire_due,
)
from orders.services.placing import LineInput, order_create
from orders.services.resourcing import order_reallocate

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "MAX_TTL_SECONDS",
    "LineInput",
    "order_acknowledge_pickup",
    "order_cancel",
    "order_create",
    "order_pickup",
    "order_reallocate",
    "order_ship",
    "pickup_ack_window",
    "pickups_overdue_detect",
    "reservation_create",
    "reservation_release",
    "reservations_expire_due",
]
