"""What a confidence score is made of: each factor reads, per location, a value and the
basis it rests on over the window, in one set-based query (or a few) for every location."""

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

# location id → (value, basis): the basis is what the value rests on (lines, events, levels).
Readings = dict[int, tuple[float, int]]


@dataclass(frozen=True)
class Factor:
    name: str
    label: str  # as the location page names it
    weight: float
    minimum_basis: Callable[[], int]  # a setting, read when scoring
    basis_label: str
    read: Callable[[datetime], Readings]


def _ratio(numerator: float, basis: int) -> float:
    return numerator / basis if basis else 0.0


def _levels_held() -> dict[int, int]:
    return dict(StockLevel.objects.values("location_id").annotate(n=Count("pk")).values_list("location_id", "n"))


def count_variance_rate(since: datetime) -> Readings:
    lines = (CycleCountLine.objects.filter(count__submitted_at__gte=since, variance__isnull=False)
             .exclude(count__status=CycleCountStatus.CANCELLED)
             .values("count__location_id")
             .annotate(counted=Count("pk"), different=Count("pk", filter=~Q(variance=0)))
             .values_list("count__location_id", "counted", "different"))
    events = (InventoryEvent.objects.filter(type=InventoryEvent.Type.COUNT, received_at__gte=since,
                                            count_variance__isnull=False, location__isnull=False)
              .values("location_id")
              .annotate(counted=Count("pk"), different=Count("pk", filter=~Q(count_variance=0)))
              .values_list("location_id", "counted", "different"))
    counted, different = Counter(), Counter()
    for location_id, lines_counted, lines_different in [*lines, *events]:
        counted[location_id] += lines_counted
        different[location_id] += lines_different
    return {location_id: (_ratio(different[location_id], n), n) for location_id, n in counted.items()}


def negative_on_hand_rate(since: datetime) -> Readings:
    seen = cases_raised_by_location(kind=CaseKind.NEGATIVE_ON_HAND, since=since)
    return {location_id: (_ratio(seen.get(location_id, 0), levels), levels)
            for location_id, levels in _levels_held().items()}


def event_problem_rate(since: datetime) -> Readings:
    rows = (InventoryEvent.objects.filter(received_at__gte=since, location__isnull=False)
            .values("location_id")
            .annotate(received=Count("pk"), problems=Count("pk", filter=Q(status__in=[
                InventoryEvent.Status.REJECTED, InventoryEvent.Status.STALE])))
            .values_list("location_id", "received", "problems"))
    return {location_id: (_ratio(problems, received), received) for location_id, received, problems in rows}


def adjustment_value_per_level(since: datetime) -> Readings:
    """Adjustments made from counts are left out: the count variance factor has them."""
    value = dict(Adjustment.objects.filter(status=AdjustmentStatus.APPLIED, applied_at__gte=since)
                 .exclude(reason=COUNT_REASON).values("location_id").annotate(total=Sum("value"))
                 .values_list("location_id", "total"))
    return {location_id: (_ratio(float(value.get(location_id) or Decimal("0")), levels), levels)
            for location_id, levels in _levels_held().items()}


FACTORS: list[Factor] = [
    Factor("count_variance_rate", "Count lines with a variance", 0.45,
           lambda: settings.CONFIDENCE_MIN_COUNTED_LINES, "count lines", count_variance_rate),
    Factor("negative_on_hand_rate", "Negative on-hand per level", 0.25,
           lambda: settings.CONFIDENCE_MIN_LEVELS, "levels", negative_on_hand_rate),
    Factor("adjustment_value_per_level", "Adjustment value per level", 0.20,
           lambda: settings.CONFIDENCE_MIN_LEVELS, "levels", adjustment_value_per_level),
    Factor("event_problem_rate", "Inbound events rejected or stale", 0.10,
           lambda: settings.CONFIDENCE_MIN_EVENTS, "events", event_problem_rate),
]


def register(factor: Factor) -> None:
    """Add a factor from another app (in its AppConfig.ready()), e.g. reconciliation's
    variance rate; a factor of the same name is replaced, so registering twice is safe."""
    FACTORS[:] = [existing for existing in FACTORS if existing.name != factor.name] + [factor]
