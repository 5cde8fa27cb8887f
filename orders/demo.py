"""Demo history of pickup orders: 90 days of web orders collected at the stores that
offer pickup, so the dashboard's pickup figure (and orders placed per day) mean something
on `make run`.

Each order is placed, acknowledged and collected through the services, told when
(`now=`): most stores acknowledge within their window, some late, a few never (those
orders still wait at the counter, as such orders do). Deterministic (the seed draws them)
and idempotent: the orders' external ids name the seed and their number, and a second run
that finds them adds none.
"""

import random
from collections import defaultdict
from datetime import datetime, timedelta

from django.utils import timezone

from inventory.demo_history import history_days
from inventory.errors import InsufficientStock
from inventory.models import Location, StockLevel
from orders.callers import Caller
from orders.models import Order
from orders.services import LineInput, order_acknowledge_pickup, order_create, order_pickup, pickup_ack_window
from orders.states import Fulfillment
from retailops.access import LocationScope

CHANNEL = "web"
PICKUPS_PER_DAY = 1
# Enough units that a demo pickup never takes a shelf's last ones.
MINIMUM_AVAILABLE = 5


def seed_pickup_history(*, seed: int, now: datetime | None = None) -> int:
    """A pickup order a day over the last 90 days at the stores that offer
    pickup. Returns the orders added."""
    now = now or timezone.now()
    prefix = f"demo-pickup-{seed}-"
    if Order.objects.filter(external_id__startswith=prefix).exists():
        return 0
    stores = list(Location.objects.filter(kind=Location.Kind.STORE, pickup=True, active=True).order_by("code"))
    shelves: dict[int, list[str]] = defaultdict(list)
    for location_id, code in (StockLevel.objects.filter(location__in=stores, available__gte=MINIMUM_AVAILABLE)
                              .order_by("location_id", "sku__code").values_list("location_id", "sku__code")):
        shelves[location_id].append(code)
    stores = [store for store in stores if shelves[store.pk]]
    if not stores:
        return 0
    rng = random.Random(f"{seed}:pickups")
    caller = Caller(actor=None, external_system_id=None, scope=LocationScope(None))
    placed = 0
    for morning in history_days(now=now):
        for _ in range(PICKUPS_PER_DAY):
            store = rng.choice(stores)
            at = morning + timedelta(hours=rng.uniform(0, 10))
            try:
                order, _ = order_create(caller=caller, external_id=f"{prefix}{placed + 1:05d}", channel_code=CHANNEL,
                                        fulfillment=Fulfillment.PICKUP, pickup_location_code=store.code,
                                        lines=[LineInput(line_id="1", sku=rng.choice(shelves[store.pk]), quantity=1)],
                                        now=at)
            except InsufficientStock:  # the shelf emptied since: the customer ordered elsewhere
                continue
            placed += 1
            window = pickup_ack_window(store)
            outcome = rng.random()
            if outcome < 0.05:
                continue  # never acknowledged
            late = outcome < 0.17
            acknowledged = min(now, at + (window * rng.uniform(1.1, 3.0) if late else window * rng.uniform(0.05, 0.9)))
            order_acknowledge_pickup(order=order, caller=caller, now=acknowledged)
            order_pickup(order=order, caller=caller, now=min(now, acknowledged + timedelta(hours=rng.uniform(1, 8))))
    return placed
