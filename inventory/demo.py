"""Deterministic demo data: the same seed gives the same retailer, every time.

Used by `make run` (small) and by the benchmarks (`--stores 300 --skus 2000`). Running it
again changes nothing: master data is upserted by its code, opening stock goes only to
levels the ledger has never moved, and the event history is resent with the same event
ids, so every event comes back `duplicate`.
"""

import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Min, Sum
from django.utils import timezone

from inventory import services
from inventory.ingest import MAX_BATCH, IncomingEvent, events_ingest
from inventory.ledger import Movement, lock_levels, post_movements
from inventory.models import Bucket, Channel, InventoryEvent, Location, Sku, StockLevel, StockMovement
from inventory.selectors import locations_by_code, skus_by_code
from retailops.access import LocationScope
from retailops.transactions import in_retrying_transaction

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


def sku_code(index: int) -> str:
    return f"SKU-{index:05d}"


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
            "code": sku_code(index),
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


# --- Stock and its history ------------------------------------------------------------

HISTORY_DAYS = 90
# Dock receipts over the whole history: as many as a week used to have, so the history
# stays a couple of thousand events however long it spans.
DARK_STORE_RECEIPTS, DC_RECEIPTS = 14, 35
EVENT_SOURCE = "pos-demo"
OPENING_REASON = "opening_balance"
DEMO_DOCUMENT = "demo"
# Levels per opening posting: bounds the lock set and the statement size of each posting.
POSTING_CHUNK = 1000

EventType = InventoryEvent.Type
Kind = Location.Kind


@dataclass(frozen=True)
class OpeningStock:
    """One level's opening balance. Damaged and quality-control units are part of on-hand."""

    location: str
    sku: str
    on_hand: int
    damaged: int = 0
    quality_control: int = 0

    def buckets(self) -> list[tuple[str, int]]:
        return [(Bucket.ON_HAND, self.on_hand), (Bucket.DAMAGED, self.damaged),
                (Bucket.QUALITY_CONTROL, self.quality_control)]


@dataclass
class StockSummary:
    levels: int
    opened: int  # levels that got their opening balance in this run
    on_hand: int
    damaged: int
    quality_control: int
    events: int
    outcomes: dict[str, int] = field(default_factory=dict)


def seed_stock_and_history(*, stores: int, skus: int, seed: int) -> StockSummary:
    """Opening stock for the demo assortment, then 90 days of till and dock events."""
    locations = [(row["code"], row["kind"]) for row in demo_locations(stores, random.Random(seed))]
    plan = demo_opening_stock(locations=locations, sku_codes=[sku_code(i) for i in range(1, skus + 1)], seed=seed)
    start = _history_start()
    opened = opening_stock_post(plan=plan, occurred_at=start)
    events = demo_event_history(plan=plan, locations=locations, start=start, seed=seed,
                                label=f"{stores}x{skus}")
    outcomes = demo_events_ingest(events=events)
    totals = StockLevel.objects.aggregate(levels=Count("pk"), on_hand=Sum("on_hand"), damaged=Sum("damaged"),
                                          quality_control=Sum("quality_control"))
    return StockSummary(
        levels=totals["levels"], opened=opened, on_hand=totals["on_hand"] or 0, damaged=totals["damaged"] or 0,
        quality_control=totals["quality_control"] or 0, events=len(events), outcomes=outcomes,
    )


def demo_opening_stock(*, locations: list[tuple[str, str]], sku_codes: list[str], seed: int) -> list[OpeningStock]:
    """Who carries what, and how much.

    DCs and the dark store carry the whole range in depth; each store carries its own
    share (40–60 %) of it, a few units on the shelf. A few levels hold damaged units and
    units waiting for quality control (at least one of each per DC). Every location draws
    from its own generator, so its assortment does not depend on the other locations.
    """
    plan: list[OpeningStock] = []
    for code, kind in locations:
        rng = random.Random(f"{seed}:stock:{code}")
        if kind == Kind.STORE:
            share = rng.uniform(0.4, 0.6)
            carried = [sku for sku in sku_codes if rng.random() < share]
            quantities = [rng.randint(0, 30) for _ in carried]
            damaged_levels, qc_levels = len(carried) // 30, len(carried) // 50
            damaged_cap, qc_cap = 3, 4
        else:
            carried = list(sku_codes)
            low, high = (150, 1200) if kind == Kind.DC else (20, 120)
            quantities = [rng.randint(low, high) for _ in carried]
            damaged_levels, qc_levels = max(1, len(carried) // 25), max(1, len(carried) // 15)
            damaged_cap, qc_cap = 12, 60
        stocked = [index for index, quantity in enumerate(quantities) if quantity >= 2]
        damaged_at = set(rng.sample(stocked, min(len(stocked), damaged_levels)))
        qc_at = set(rng.sample(stocked, min(len(stocked), qc_levels)))
        for index, (sku, quantity) in enumerate(zip(carried, quantities, strict=True)):
            damaged = rng.randint(1, max(1, min(quantity // 4, damaged_cap))) if index in damaged_at else 0
            quality_control = (rng.randint(1, max(1, min((quantity - damaged) // 2, qc_cap)))
                               if index in qc_at else 0)
            plan.append(OpeningStock(code, sku, quantity, damaged, quality_control))
    return plan


def _history_start() -> datetime:
    """Where the demo history begins. The first run fixes it (its opening balances carry
    it), so a later run, even days later, resends byte-identical events: duplicates, never
    conflicts."""
    first = StockMovement.objects.filter(document_type=DEMO_DOCUMENT, reason=OPENING_REASON).aggregate(
        first=Min("occurred_at"))["first"]
    if first is not None:
        return first
    return timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=HISTORY_DAYS)


def opening_stock_post(*, plan: list[OpeningStock], occurred_at: datetime) -> int:
    """Post the planned opening balances through the ledger, one posting per location (in
    chunks of POSTING_CHUNK levels). A level the ledger has already moved keeps its stock:
    it is the ledger's now, and a re-run must not add to it. Returns the levels opened."""
    sku_ids = {code: sku.pk for code, sku in skus_by_code(stock.sku for stock in plan).items()}
    location_ids = {code: location.pk for code, location in locations_by_code(stock.location for stock in plan).items()}
    by_location: dict[str, list[OpeningStock]] = defaultdict(list)
    for stock in plan:
        by_location[stock.location].append(stock)
    opened = 0
    for code, stocks in by_location.items():
        for first in range(0, len(stocks), POSTING_CHUNK):
            chunk = {(sku_ids[stock.sku], location_ids[code]): stock for stock in stocks[first:first + POSTING_CHUNK]}
            opened += _opening_post(chunk, occurred_at=occurred_at, document_id=code)
    return opened


@in_retrying_transaction
def _opening_post(stocks: dict[tuple[int, int], OpeningStock], *, occurred_at: datetime, document_id: str) -> int:
    levels = lock_levels(stocks)
    movements = [
        Movement(sku_id=sku_id, location_id=location_id, bucket=bucket, delta=quantity, reason=OPENING_REASON,
                 occurred_at=occurred_at)
        for (sku_id, location_id), stock in stocks.items() if levels[(sku_id, location_id)].version == 0
        for bucket, quantity in stock.buckets() if quantity
    ]
    post_movements(movements, document_type=DEMO_DOCUMENT, document_id=document_id)
    return len({movement.key for movement in movements})


@dataclass(frozen=True)
class _Planned:
    offset: int  # seconds after the history start
    type: str
    location: str
    sku: str
    quantity: int  # for a count: the variance the counter finds
    oversell: bool = False


def demo_event_history(*, plan: list[OpeningStock], locations: list[tuple[str, str]], start: datetime, seed: int,
                       label: str) -> list[IncomingEvent]:
    """HISTORY_DAYS of till and dock facts, in time order, with ids fixed by seed and size.

    Sales, receipts, some damage and a few counts, sized so that the history stays a
    couple of thousand events even for hundreds of stores. Quantities follow a simulation
    of the shelves, so nothing oversells by accident; a few sales at the very end do, on
    purpose, so the demo shows negative on-hand and its case.
    """
    rng = random.Random(f"{seed}:history:{label}")
    span = HISTORY_DAYS * 86400

    def at() -> int:
        return rng.randrange(3600, span - 7200)

    carried: dict[str, list[str]] = defaultdict(list)
    for stock in plan:
        carried[stock.location].append(stock.sku)
    stores = [code for code, kind in locations if kind == Kind.STORE and carried[code]]
    sales_per_store = max(12, min(120, 2400 // max(1, len(stores))))
    planned: list[_Planned] = []
    for code, kind in locations:
        skus = carried[code]
        if not skus:
            continue
        if kind == Kind.STORE:
            planned += [_Planned(at(), EventType.SALE, code, rng.choice(skus), rng.choice((1, 1, 1, 1, 1, 2, 2, 3)))
                        for _ in range(sales_per_store)]
            planned += [_Planned(at(), EventType.RECEIPT, code, rng.choice(skus), rng.randint(6, 24))
                        for _ in range(max(2, sales_per_store // 8))]
        elif kind == Kind.DARK_STORE:
            planned += [_Planned(at(), EventType.SALE, code, rng.choice(skus), rng.choice((1, 1, 2)))
                        for _ in range(120)]
            planned += [_Planned(at(), EventType.RECEIPT, code, rng.choice(skus), rng.randint(10, 40))
                        for _ in range(DARK_STORE_RECEIPTS)]
            planned += [_Planned(at(), EventType.DAMAGE, code, rng.choice(skus), rng.randint(1, 3)) for _ in range(2)]
            planned += [_Planned(at(), EventType.COUNT, code, rng.choice(skus), rng.choice((-2, -1, 0, 0, 1)))
                        for _ in range(5)]
        else:
            planned += [_Planned(at(), EventType.RECEIPT, code, rng.choice(skus), rng.randint(50, 300))
                        for _ in range(DC_RECEIPTS)]
            planned += [_Planned(at(), EventType.DAMAGE, code, rng.choice(skus), rng.randint(1, 5)) for _ in range(3)]
    for code in stores[:5]:
        planned.append(_Planned(at(), EventType.DAMAGE, code, rng.choice(carried[code]), rng.randint(1, 2)))
    for code in stores[:4]:
        planned += [_Planned(at(), EventType.COUNT, code, rng.choice(carried[code]), rng.choice((-2, -1, -1, 0, 1)))
                    for _ in range(5)]
    for index, code in enumerate(stores[:3]):  # last of all: nothing after them restocks these shelves
        planned.append(_Planned(span - 3600 + index, EventType.SALE, code, rng.choice(carried[code]),
                                rng.randint(2, 5), oversell=True))

    shelves = {(stock.location, stock.sku): [stock.on_hand, stock.damaged + stock.quality_control]
               for stock in plan}
    prefix = f"demo-{seed}-{label}"
    events: list[IncomingEvent] = []
    for item in sorted(planned, key=lambda planned_event: planned_event.offset):
        shelf = shelves[(item.location, item.sku)]
        sellable = shelf[0] - shelf[1]
        quantity = item.quantity
        if item.type == EventType.SALE:
            quantity = max(shelf[0], 0) + item.quantity if item.oversell else min(quantity, sellable)
            shelf[0] -= quantity
        elif item.type == EventType.RECEIPT:
            shelf[0] += quantity
        elif item.type == EventType.DAMAGE:
            quantity = min(quantity, sellable)
            shelf[1] += quantity
        elif item.type == EventType.COUNT:
            quantity = shelf[0] = max(shelf[1], shelf[0] + item.quantity)
        if quantity <= 0 and item.type != EventType.COUNT:
            continue
        events.append(IncomingEvent(
            event_id=f"{prefix}-{len(events) + 1:06d}", type=item.type, sku=item.sku, location=item.location,
            quantity=quantity, occurred_at=start + timedelta(seconds=item.offset),
            reference=f"{item.type}-{item.location}-{item.offset}",
        ))
    return events


def demo_arrival(event: IncomingEvent) -> datetime:
    """When a demo event reached us, as if the tills and docks had sent it live: 2 to 90
    seconds after it occurred (fixed by its id, so a rerun gives the same times)."""
    lag = 2 + int(hashlib.sha256(event.event_id.encode()).hexdigest()[:8], 16) % 89
    return event.occurred_at + timedelta(seconds=lag)


def demo_events_ingest(*, events: list[IncomingEvent]) -> dict[str, int]:
    """Send the history the way a partner would: batches through the one ingest service,
    each event received a few seconds after it occurred (`demo_arrival`), as it would have
    been live, so the event latency detector sees the history as on time."""
    outcomes: Counter[str] = Counter()
    scope = LocationScope(None)
    for first in range(0, len(events), MAX_BATCH):
        batch = events[first:first + MAX_BATCH]
        result = events_ingest(source=EVENT_SOURCE, events=batch, actor=None, scope=scope,
                               arrived_at={event.event_id: demo_arrival(event) for event in batch})
        outcomes.update(result.summary)
    return {status: count for status, count in outcomes.items() if count}
