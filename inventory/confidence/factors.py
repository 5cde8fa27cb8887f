"""What a confidence score is made of: each factor reads, per location, a value and the
basis it rests on over the window, in one set-based query (or a few) for every location.
A factor that can be read per SKU × location (`read_levels`) does the same for every
level at once; those are what a level's own score is made of."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum

from exceptions.selectors import cases_raised_by_location
from exceptions.states import CaseKind
from inventory.adjustments import COUNT_REASON
from inventory.models import Adjustment, CycleCountLine, InventoryEvent, StockLevel
from inventory.states import AdjustmentStatus, CycleCountStatus

# location id (or, for a level, (sku id, location id)) → (value, basis): the basis is what
# the value rests on (lines, events, levels).
Readings = dict[int, tuple[float, int]]
LevelReadings = dict[tuple[int, int], tuple[float, int]]


@dataclass(frozen=True)
class Factor:
    name: str
    label: str  # as the location page names it
    weight: float
    minimum_basis: Callable[[], int]  # a setting, read when scoring
    basis_label: str
    read: Callable[[datetime], Readings]
    # Per SKU × location, where the factor means something for one level (None: it does not).
    read_levels: Callable[[datetime], LevelReadings] | None = None
    level_minimum_basis: Callable[[], int] | None = None  # default: minimum_basis


def _ratio(numerator: float, basis: int) -> float:
    return numerator / basis if basis else 0.0


def _levels_held() -> dict[int, int]:
    return dict(StockLevel.objects.values("location_id").annotate(n=Count("pk")).values_list("location_id", "n"))


def _count_variance(since: datetime, *, per_level: bool) -> dict:
    line_keys = ("sku_id", "count__location_id") if per_level else ("count__location_id",)
    event_keys = ("sku_id", "location_id") if per_level else ("location_id",)
    lines = (CycleCountLine.objects.filter(count__submitted_at__gte=since, variance__isnull=False)
             .exclude(count__status=CycleCountStatus.CANCELLED)
             .values(*line_keys)
             .annotate(counted=Count("pk"), different=Count("pk", filter=~Q(variance=0)))
             .values_list(*line_keys, "counted", "different"))
    events = (InventoryEvent.objects.filter(type=InventoryEvent.Type.COUNT, received_at__gte=since,
                                            count_variance__isnull=False, location__isnull=False)
              .values(*event_keys)
              .annotate(counted=Count("pk"), different=Count("pk", filter=~Q(count_variance=0)))
              .values_list(*event_keys, "counted", "different"))
    counted, different = Counter(), Counter()
    for *key, lines_counted, lines_different in [*lines, *events]:
        key = tuple(key) if per_level else key[0]
        counted[key] += lines_counted
        different[key] += lines_different
    return {key: (_ratio(different[key], n), n) for key, n in counted.items()}


def count_variance_rate(since: datetime) -> Readings:
    return _count_variance(since, per_level=False)


def count_variance_rate_by_level(since: datetime) -> LevelReadings:
    return _count_variance(since, per_level=True)


def negative_on_hand_rate(since: datetime) -> Readings:
    seen = cases_raised_by_location(kind=CaseKind.NEGATIVE_ON_HAND, since=since)
    return {location_id: (_ratio(seen.get(location_id, 0), levels), levels)
            for location_id, levels in _levels_held().items()}


def _event_problems(since: datetime, *keys: str):
    events = InventoryEvent.objects.filter(received_at__gte=since, location__isnull=False)
    if "sku_id" in keys:
        events = events.filter(sku__isnull=False)
    return (events.values(*keys)
            .annotate(received=Count("pk"), problems=Count("pk", filter=Q(status__in=[
                InventoryEvent.Status.REJECTED, InventoryEvent.Status.STALE])))
            .values_list(*keys, "received", "problems"))


def event_problem_rate(since: datetime) -> Readings:
    return {location_id: (_ratio(problems, received), received)
            for location_id, received, problems in _event_problems(since, "location_id")}


def event_problem_rate_by_level(since: datetime) -> LevelReadings:
    return {(sku_id, location_id): (_ratio(problems, received), received)
            for sku_id, location_id, received, problems in _event_problems(since, "sku_id", "location_id")}


def adjustment_value_per_level(since: datetime) -> Readings:
    """Adjustments made from counts are left out: the count variance factor has them."""
    value = dict(Adjustment.objects.filter(status=AdjustmentStatus.APPLIED, applied_at__gte=since)
                 .exclude(reason=COUNT_REASON).values("location_id").annotate(total=Sum("value"))
                 .values_list("location_id", "total"))
    return {location_id: (_ratio(float(value.get(location_id) or Decimal("0")), levels), levels)
            for location_id, levels in _levels_held().items()}


FACTORS: list[Factor] = [
    Factor("count_variance_rate", "Count lines with a variance", 0.45,
           lambda: settings.CONFIDENCE_MIN_COUNTED_LINES, "count lines", count_variance_rate,
           read_levels=count_variance_rate_by_level,
           level_minimum_basis=lambda: settings.CONFIDENCE_LEVEL_MIN_COUNTED_LINES),
    Factor("negative_on_hand_rate", "Negative on-hand per level", 0.25,
           lambda: settings.CONFIDENCE_MIN_LEVELS, "levels", negative_on_hand_rate),
    Factor("adjustment_value_per_level", "Adjustment value per level", 0.20,
           lambda: settings.CONFIDENCE_MIN_LEVELS, "levels", adjustment_value_per_level),
    Factor("event_problem_rate", "Inbound events rejected or stale", 0.10,
           lambda: settings.CONFIDENCE_MIN_EVENTS, "events", event_problem_rate,
           read_levels=event_problem_rate_by_level),
]


def register(factor: Factor) -> None:
    """Add a factor from another app (in its AppConfig.ready()), e.g. reconciliation's
    variance rate; a factor of the same name is replaced, so registering twice is safe."""
    FACTORS[:] = [existing for existing in FACTORS if existing.name != factor.name] + [factor]
