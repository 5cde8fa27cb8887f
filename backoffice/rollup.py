"""The dashboard's daily rollup: per whole day (in TIME_ZONE), the totals behind four
figures, so a span of a year reads a few hundred rows instead of millions.

Which figures read it, and for what:
- "Short allocations and failed reservations": orders placed, checkout holds made, and
  reservation failures detected (from case history, which is append-only) per day;
- "Pickups acknowledged within their window": per store, pickups due, in time, late and
  not acknowledged, by the day they fell due;
- "Inventory accuracy by location" (from counts): per location, lines counted, lines
  exact, units expected and units off, by the day the count was submitted;
- "Adjustment value by reason and root cause": per day, reason and root cause, the
  applied adjustments and their value (the figure sums the days into weeks).

A figure reads the rollup only for the whole days inside a span, and only for someone who
sees every location; the part days at either end (a preset span starts and ends at the
current time), and every store user's figures, are the same selectors queried directly.
Each day's rows are computed by those same selectors (grouped by day), so a figure's
numbers equal the direct queries: `tests/backoffice/test_dashboard_rollup.py` checks it.

A day is built when a span first asks for it (on demand, in the request), and the beat
task `backoffice.tasks.dashboard_rollup_refresh` rebuilds the last
DASHBOARD_ROLLUP_REFRESH_DAYS whole days every hour and builds any day of the last year not
built yet. The rows behind a past day rarely change (a count's variance and an
adjustment's value are fixed when they happen; an order's creation time never moves); what
can is a pickup acknowledged days late, which the refresh window covers.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from backoffice.models import DailyFigure, RollupDay, RollupFigure
from exceptions import selectors as case_selectors
from exceptions.states import CaseKind
from inventory import selectors as inventory_selectors
from orders import selectors as order_selectors
from retailops.access import LocationScope

EVERYWHERE = LocationScope(None)
# What m1–m4 hold for each figure.
MEASURES = {
    RollupFigure.ORDERS: ("n",),
    RollupFigure.HOLDS: ("n",),
    RollupFigure.REFUSALS: ("total", "orders"),
    RollupFigure.PICKUPS: ("due", "within", "late", "missed"),
    RollupFigure.COUNTS: ("lines", "exact", "expected_units", "variance_units"),
    RollupFigure.ADJUSTMENTS: ("n",),
}
# The longest span a figure may ask for (kpis.LONGEST_SPAN_DAYS), which the refresh keeps built.
KEPT_DAYS = 366


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def today(now: datetime | None = None) -> date:
    return timezone.localtime(now or timezone.now(), timezone.get_current_timezone()).date()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _rows_of(first: date, last: date, *, now: datetime) -> Iterable[DailyFigure]:
    """The rollup rows of the whole days [first, last], from the figures' own selectors."""
    start, end = midnight(first), midnight(last + timedelta(days=1))
    promises = order_selectors.promises_by_day(scope=EVERYWHERE, start=start, end=end)
    for figure in (RollupFigure.ORDERS, RollupFigure.HOLDS):
        for day, n in promises[figure.value].items():
            yield DailyFigure(day=day, figure=figure, m1=n)
    for row in case_selectors.detections_by_day(kind=CaseKind.RESERVATION_FAILURE, scope=EVERYWHERE, start=start,
                                                end=end):
        yield DailyFigure(day=row["day"], figure=RollupFigure.REFUSALS, m1=row["total"], m2=row["orders"])
    for row in order_selectors.pickup_acknowledgement_by_location(scope=EVERYWHERE, start=start, end=end, now=now,
                                                                  by_day=True):
        yield DailyFigure(day=row["day"], figure=RollupFigure.PICKUPS, location_id=row["pickup_location_id"],
                          m1=row["due"], m2=row["within"], m3=row["late"], m4=row["missed"])
    for row in inventory_selectors.count_accuracy_by_location(scope=EVERYWHERE, start=start, end=end, by_day=True):
        yield DailyFigure(day=row["day"], figure=RollupFigure.COUNTS, location_id=row["count__location_id"],
                          m1=row["lines"], m2=row["exact"], m3=row["expected_units"] or 0,
                          m4=row["variance_units"] or 0)
    for row in inventory_selectors.adjustment_value_by_week(scope=EVERYWHERE, start=start, end=end, by_day=True):
        yield DailyFigure(day=row["week"], figure=RollupFigure.ADJUSTMENTS, reason=row["reason"],
                          root_cause=row["root_cause"], m1=row["n"], value=row["value"] or 0)


def days_build(first: date, last: date, *, now: datetime | None = None) -> int:
    """Build (or rebuild) the rollup of the whole days [first, last] that are over (today
    is not); returns how many days were built. Two builders of one day take turns (the
    day's row is locked), so a day never holds two sets of rows."""
    now = now or timezone.now()
    last = min(last, today(now) - timedelta(days=1))
    if first > last:
        return 0
    days = _days(first, last)
    with transaction.atomic():
        RollupDay.objects.bulk_create([RollupDay(day=day) for day in days], ignore_conflicts=True)
        list(RollupDay.objects.select_for_update().filter(day__gte=first, day__lte=last).values_list("pk"))
        DailyFigure.objects.filter(day__gte=first, day__lte=last).delete()
        DailyFigure.objects.bulk_create(_rows_of(first, last, now=now), batch_size=2000)
        RollupDay.objects.filter(day__gte=first, day__lte=last).update(built_at=now)
    return len(days)


def days_missing(first: date, last: date) -> list[date]:
    built = set(RollupDay.objects.filter(day__gte=first, day__lte=last, built_at__isnull=False)
                .values_list("day", flat=True))
    return [day for day in _days(first, last) if day not in built]


def days_ensure(first: date, last: date, *, now: datetime | None = None) -> None:
    """Build the days of [first, last] no one has built yet (what a span asks for)."""
    missing = days_missing(first, min(last, today(now) - timedelta(days=1)))
    if missing:
        days_build(missing[0], missing[-1], now=now)


def refresh(*, now: datetime | None = None) -> int:
    """The beat task's body: rebuild the last DASHBOARD_ROLLUP_REFRESH_DAYS whole days, and
    build every day of the last year not built yet. Safe to run twice."""
    now = now or timezone.now()
    yesterday = today(now) - timedelta(days=1)
    built = days_build(yesterday - timedelta(days=settings.DASHBOARD_ROLLUP_REFRESH_DAYS - 1), yesterday, now=now)
    missing = days_missing(yesterday - timedelta(days=KEPT_DAYS - 1), yesterday)
    if missing:
        built += days_build(missing[0], missing[-1], now=now)
    return built


def totals(figure: str, *, first: date, last: date, by: tuple[str, ...], now: datetime | None = None) -> list[dict]:
    """The figure's measures summed over the whole days [first, last] (built on demand),
    grouped by `by` (e.g. ("location_id",) or ("week", "reason", "root_cause")), under the
    figure's measure names."""
    days_ensure(first, last, now=now)
    names = MEASURES[figure]
    sums = {f"sum_{name}": Sum(f"m{index + 1}") for index, name in enumerate(names)}
    if figure == RollupFigure.ADJUSTMENTS:
        sums["sum_value"] = Sum("value")
    rows = DailyFigure.objects.filter(figure=figure, day__gte=first, day__lte=last)
    if "week" in by:  # weeks start on Monday
        rows = rows.annotate(week=TruncWeek("day"))
    rows = rows.values(*by).annotate(**sums).order_by(*by)
    return [{key.removeprefix("sum_"): value for key, value in row.items()} for row in rows]
