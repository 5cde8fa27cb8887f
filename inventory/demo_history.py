"""Demo history of the shop floor: 90 days of cycle counts (weekdays) and adjustments, so the
dashboard's accuracy and adjustment figures, and location confidence, mean something on
`make run`.

Every count and adjustment goes through its service, told when it happened (`now=`), so
its records and ledger movements carry that day. Deterministic (the seed draws every one)
and idempotent: a second run finds the demo's counts (their reason) and adjustments (their
reference) and adds none.
"""

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from inventory.adjustments import adjustment_request
from inventory.counts import CountedLine, count_accept, count_schedule, count_submit
from inventory.models import Adjustment, CycleCount, Location, StockLevel
from retailops.access import LocationScope

HISTORY_DAYS = 90
COUNT_REASON = "demo history"
COUNT_LINES = 3
ADJUSTMENT_REFERENCE = "demo-history"
# What a quarter's adjustments outside counts mostly are: (reason, root cause, delta range).
ADJUSTMENTS = [
    ("shrink", "shrink", (-3, -1)),
    ("damaged", "damage", (-2, -1)),
    ("theft", "shrink", (-2, -1)),
    ("found_stock", "unrecorded_receipt", (1, 3)),
    ("correction", "data_entry", (-2, 2)),
]
EVERYWHERE = LocationScope(None)


@dataclass(frozen=True)
class FloorHistory:
    counts: int
    adjustments: int


def history_days(*, now: datetime, days: int = HISTORY_DAYS) -> list[datetime]:
    """The mornings (09:00 local) of the whole days before today, oldest first."""
    today = timezone.localtime(now).replace(hour=9, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=ago) for ago in range(days - 1, 0, -1)]


def _stocked(location_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """Per location: (SKU code, on-hand) of its levels with units that no count has
    verified yet (a count dated before a level's last count would be refused as
    superseded), in SKU order."""
    stocked: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for location_id, code, on_hand in (StockLevel.objects.filter(location_id__in=location_ids, on_hand__gt=2,
                                                                 last_counted_at__isnull=True)
                                       .order_by("location_id", "sku__code")
                                       .values_list("location_id", "sku__code", "on_hand")):
        stocked[location_id].append((code, on_hand))
    return stocked


def seed_floor_history(*, location_codes: list[str], seed: int, now: datetime | None = None) -> FloorHistory:
    """A cycle count each weekday (counting is weekday work for the teams) and an adjustment
    each day over the last 90 days, at the given locations in turn. Returns what was
    added."""
    now = now or timezone.now()
    locations = dict(Location.objects.filter(code__in=location_codes).values_list("pk", "code"))
    stocked = _stocked(list(locations))
    rotation = [pk for pk in sorted(locations) if stocked[pk]]
    if not rotation:
        return FloorHistory(counts=0, adjustments=0)
    rng = random.Random(f"{seed}:floor")
    counts = adjustments = 0
    do_counts = not CycleCount.objects.filter(reason=COUNT_REASON).exists()
    do_adjustments = not Adjustment.objects.filter(reference__startswith=ADJUSTMENT_REFERENCE).exists()
    for number, morning in enumerate(history_days(now=now)):
        location_id = rotation[number % len(rotation)]
        if do_counts and morning.weekday() < 5:
            _count(locations[location_id], stocked[location_id], at=morning + timedelta(hours=rng.uniform(0, 8)),
                   rng=rng)
            counts += 1
        if do_adjustments:
            at_location = rotation[rng.randrange(len(rotation))]
            sku, on_hand = rng.choice(stocked[at_location])
            reason, root_cause, (low, high) = rng.choice(ADJUSTMENTS)
            delta = rng.choice([delta for delta in range(low, high + 1) if delta])
            adjustment_request(sku_code=sku, location_code=locations[at_location], delta=max(delta, -on_hand),
                               reason=reason, root_cause=root_cause, actor=None, scope=EVERYWHERE,
                               reference=f"{ADJUSTMENT_REFERENCE}-{seed}-{adjustments + 1}", note="Demo history",
                               now=morning + timedelta(hours=rng.uniform(0, 9)))
            adjustments += 1
    return FloorHistory(counts=counts, adjustments=adjustments)


def _count(location_code: str, stocked: list[tuple[str, int]], *, at: datetime, rng: random.Random) -> None:
    """Schedule, count (most lines exact, a few a unit or two off) and accept one count."""
    lines = rng.sample(stocked, min(COUNT_LINES, len(stocked)))
    count = count_schedule(location_code=location_code, selection=CycleCount.Selection.EXPLICIT, actor=None,
                           scope=EVERYWHERE, sku_codes=[sku for sku, _ in lines], reason=COUNT_REASON, now=at)
    on_hand = dict(StockLevel.objects.filter(location__code=location_code, sku__code__in=[sku for sku, _ in lines])
                   .values_list("sku__code", "on_hand"))
    counted = [CountedLine(sku=sku, counted=max(0, on_hand[sku] + rng.choice((0, 0, 0, 0, 0, 0, 0, 0, -1, -1, 1, -2))))
               for sku, _ in lines]
    count = count_submit(count=count, lines=counted, actor=None, scope=EVERYWHERE, now=at + timedelta(minutes=40))
    count_accept(count=count, actor=None, scope=EVERYWHERE, note="Demo history", now=at + timedelta(hours=2))
