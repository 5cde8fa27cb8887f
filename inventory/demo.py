"""Deterministic demo data: the same seed gives the same retailer, every time.

Used by `make run` (small) and by the benchmarks (`--stores 300 --skus 2000`). Running it
again changes nothing: every row is upserted by its code.
"""

import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from inventory import services
from inventory.models import Channel, Location, Sku

REGIONS = ["north", "south", "east", "west", "central"]
CATEGORIES = ["Tee", "Hoodie", "Jeans", "Jacket", "Sneaker", "Cap", "Sock", "Scarf", "Dress", "Shirt"]
COLOURS = ["black", "white", "navy", "olive", "red", "grey", "sand", "blue"]
SIZES = ["XS", "S", "M", "L", "XL"]

CHANNELS = [
    {"code": "pos", "name": "Store tills", "kind": Channel.Kind.POS, "priority": 100, "safety_buffer": 0},
    {"code": "web", "name": "Web shop", "kind": Channel.Kind.WEB, "priority": 50, "safety_buffer": 1},
    {"code": "marketplace", "name": "Marketplace", "kind": Channel.Kind.MARKETPLACE, "priority": 10,
     "safety_buffer": 2},
]


@dataclass
class DemoSummary:
    locations: int
    skus: int
    channels: int


def store_code(index: int) -> str:
    return f"S{index:03d}"


def demo_locations(stores: int, rng: random.Random) -> list[dict]:
    locations = [
        {"code": "DC-NORTH", "name": "North distribution centre", "kind": Location.Kind.DC, "region": "north",
         "ship_from_store": True, "pickup": False},
        {"code": "DC-SOUTH", "name": "South distribution centre", "kind": Location.Kind.DC, "region": "south",
         "ship_from_store": True, "pickup": False},
        {"code": "DARK-01", "name": "City dark store", "kind": Location.Kind.DARK_STORE, "region": "central",
         "ship_from_store": True, "pickup": False},
    ]
    for index in range(1, stores + 1):
        region = REGIONS[(index - 1) % len(REGIONS)]
        locations.append({
            "code": store_code(index),
            "name": f"Store {index:03d} ({region.title()})",
            "kind": Location.Kind.STORE,
            "region": region,
            "ship_from_store": rng.random() < 0.6,
            "pickup": rng.random() < 0.8,
        })
    return locations


def demo_skus(count: int, rng: random.Random) -> list[dict]:
    skus = []
    for index in range(1, count + 1):
        category = CATEGORIES[(index - 1) % len(CATEGORIES)]
        colour = COLOURS[rng.randrange(len(COLOURS))]
        size = SIZES[(index - 1) % len(SIZES)]
        unit_cost = Decimal(rng.randrange(300, 9000)) / 100
        price = (unit_cost * Decimal(rng.choice(["1.8", "2.2", "2.5", "3.0"]))).quantize(Decimal("0.01"))
        skus.append({
            "code": f"SKU-{index:05d}",
            "name": f"{category} {colour} {size}",
            "unit_cost": unit_cost,
            "price": price,
            "active": True,
        })
    return skus


def seed_master_data(*, stores: int, skus: int, seed: int) -> DemoSummary:
    rng = random.Random(seed)
    locations = demo_locations(stores, rng)
    sku_rows = demo_skus(skus, rng)
    with transaction.atomic():
        for row in CHANNELS:
            services.channel_upsert(actor=None, reason="demo data", **row)
        for row in locations:
            services.location_upsert(actor=None, reason="demo data", **row)
        _bulk_insert_missing(Sku, sku_rows)
    return DemoSummary(locations=len(locations), skus=len(sku_rows), channels=len(CHANNELS))


def _bulk_insert_missing(model, rows: list[dict]) -> None:
    """Insert the rows whose code is new, with their history rows, in bulk.

    Existing codes are left as they are: demo data never overwrites what someone changed.
    """
    from simple_history.utils import bulk_create_with_history

    existing = set(model.objects.filter(code__in=[row["code"] for row in rows]).values_list("code", flat=True))
    new = [model(**row) for row in rows if row["code"] not in existing]
    if new:
        bulk_create_with_history(new, model, batch_size=1000, default_change_reason="demo data")
