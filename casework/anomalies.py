"""Anomaly detectors: patterns in the ledger and the event stream that a person should look
at before they cost money (DESIGN.md "Anomalies and confidence"). Like `casework.detectors`
each is set-based and safe to run twice: an `anomaly` case per pattern and subject (its
dedup key), bumped rather than duplicated. Every case carries, in its context, the
statistic that fired (value, baseline, threshold or z) and a recommended action, which
the case page shows.

- **sudden drop**: a level's on-hand fell by `ANOMALY_DROP_UNITS` or more, or by
  `ANOMALY_DROP_PERCENT` or more of what it held (and at least `ANOMALY_DROP_MIN_UNITS`),
  within `ANOMALY_DROP_WINDOW_HOURS`, through movements that are not sales, shipments or
  transfers;
- **shrink spike**: a location's shrink, theft and damage adjustments of the last
  `ANOMALY_SHRINK_DAYS` are worth `ANOMALY_SHRINK_FACTOR` times its own weekly baseline
  (the `ANOMALY_SHRINK_BASELINE_WEEKS` before) or more, and at least
  `ANOMALY_SHRINK_MIN_VALUE`;
- **repeated negatives**: `ANOMALY_NEGATIVE_REPEATS` or more negative on-hand detections at
  one location within `ANOMALY_NEGATIVE_DAYS`;
- **phantom inventory**: a store holds units of a SKU but sold none for
  `ANOMALY_PHANTOM_DAYS` while other locations sold `ANOMALY_PHANTOM_MIN_SOLD_ELSEWHERE`
  or more: the recommendation is a count, which the case page opens in one click;
- **event latency**: half or more of a system's events of the last
  `ANOMALY_LATENCY_WINDOW_MINUTES` (at least `ANOMALY_LATENCY_MIN_EVENTS`) arrived more
  than `ANOMALY_EVENT_LATENCY_SECONDS` after they occurred;
- **POS silence**: a location whose tills (events from a POS system) sent something in
  the last `ANOMALY_POS_SILENCE_LOOKBACK_DAYS` has sent nothing for
  `ANOMALY_POS_SILENCE_MINUTES`, while it has been open (its trading hours, in TIME_ZONE)
  for at least that long. The case resolves itself (condition cleared) once the till
  speaks again or the shop closes; nothing fires outside trading hours.
"""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from exceptions.selectors import active_cases, cases_raised_by_location
from exceptions.services import CaseReport, cases_resolve_cleared, raise_cases
from exceptions.states import CaseKind
from integrations.models import ExternalSystem
from integrations.selectors import system_codes_of_kind
from inventory import statistics
from inventory.selectors import location_codes

KIND = CaseKind.ANOMALY


def _report(pattern: str, subject_key: str, *, title: str, statistic: dict, action: str, **fields) -> CaseReport:
    return CaseReport(kind=KIND, dedup_key=f"anomaly:{pattern}:{subject_key}", title=title,
                      context={"pattern": pattern, "statistic": statistic, "recommended_action": action,
                               **fields.pop("context", {})}, **fields)


def sudden_drops_detect(*, now=None) -> int:
    now = now or timezone.now()
    hours = settings.ANOMALY_DROP_WINDOW_HOURS
    reports = []
    for row in statistics.on_hand_lost_outside_trade(since=now - timedelta(hours=hours),
                                                     minimum_units=settings.ANOMALY_DROP_MIN_UNITS):
        held = row["on_hand"] + row["lost"]
        share = row["lost"] / held if held > 0 else 1.0
        if row["lost"] < settings.ANOMALY_DROP_UNITS and share * 100 < settings.ANOMALY_DROP_PERCENT:
            continue
        reports.append(_report(
            "sudden_drop", f"{row['sku_id']}:{row['location_id']}",
            title=f"{row['sku__code']} at {row['location__code']} lost {row['lost']} units outside sales "
                  f"and transfers in {hours} h",
            statistic={"value": row["lost"], "baseline": held, "share_percent": round(share * 100, 1),
                       "threshold": f"{settings.ANOMALY_DROP_UNITS} units or {settings.ANOMALY_DROP_PERCENT}%",
                       "window_hours": hours},
            action="Count the level and check the adjustments and events that removed the units.",
            sku_id=row["sku_id"], location_id=row["location_id"],
            money_at_risk=Decimal(row["lost"]) * row["sku__price"]))
    raise_cases(reports)
    return len(reports)


def shrink_spikes_detect(*, now=None) -> int:
    now = now or timezone.now()
    days, weeks = settings.ANOMALY_SHRINK_DAYS, settings.ANOMALY_SHRINK_BASELINE_WEEKS
    recent_since = now - timedelta(days=days)
    recent = statistics.shrink_value_by_location(since=recent_since, until=now)
    before = statistics.shrink_value_by_location(since=recent_since - timedelta(weeks=weeks), until=recent_since)
    codes = location_codes(recent)
    reports = []
    for location_id, value in recent.items():
        baseline = before.get(location_id, 0.0) / weeks * days / 7  # the same span's share of the baseline
        if value < settings.ANOMALY_SHRINK_MIN_VALUE or value < settings.ANOMALY_SHRINK_FACTOR * baseline:
            continue
        reports.append(_report(
            "shrink_spike", str(location_id),
            title=f"Shrink at {codes[location_id]} is {value:.2f} in {days} days, against a usual {baseline:.2f}",
            statistic={"value": round(value, 2), "baseline": round(baseline, 2),
                       "threshold": f"{settings.ANOMALY_SHRINK_FACTOR}× baseline and at least "
                                    f"{settings.ANOMALY_SHRINK_MIN_VALUE}", "window_days": days,
                       "baseline_weeks": weeks},
            action="Review the shrink, theft and damage adjustments at this location and who made them.",
            location_id=location_id, money_at_risk=Decimal(str(round(value, 2)))))
    raise_cases(reports)
    return len(reports)


def repeated_negatives_detect(*, now=None) -> int:
    now = now or timezone.now()
    days = settings.ANOMALY_NEGATIVE_DAYS
    seen = cases_raised_by_location(kind=CaseKind.NEGATIVE_ON_HAND, since=now - timedelta(days=days))
    repeated = {location_id: times for location_id, times in seen.items()
                if times >= settings.ANOMALY_NEGATIVE_REPEATS}
    codes = location_codes(repeated)
    reports = [_report(
        "repeated_negative", str(location_id),
        title=f"{codes[location_id]} went negative {times} times in {days} days",
        statistic={"value": times, "threshold": settings.ANOMALY_NEGATIVE_REPEATS, "window_days": days},
        action="Check how sales are recorded at this store (unrecorded receipts, wrong SKUs scanned) and count "
               "the SKUs that went negative.",
        location_id=location_id) for location_id, times in repeated.items()]
    raise_cases(reports)
    return len(reports)


def phantom_inventory_detect(*, now=None) -> int:
    now = now or timezone.now()
    days = settings.ANOMALY_PHANTOM_DAYS
    reports = [_report(
        "phantom_inventory", f"{row['sku_id']}:{row['location_id']}",
        title=f"{row['sku__code']} at {row['location__code']}: {row['on_hand']} on hand, no sale in {days} days "
              f"while {row['sold_elsewhere']} sold elsewhere",
        statistic={"value": row["on_hand"], "sold_elsewhere": row["sold_elsewhere"], "days_without_sale": days,
                   "threshold": f"no sale in {days} days, {settings.ANOMALY_PHANTOM_MIN_SOLD_ELSEWHERE}+ sold "
                                "elsewhere"},
        action="Count this SKU here: the units may not be on the shelf. Open the count from this case.",
        sku_id=row["sku_id"], location_id=row["location_id"],
        money_at_risk=Decimal(row["on_hand"]) * row["sku__price"], context={"recommends_count": True})
        for row in statistics.levels_not_selling(since=now - timedelta(days=days),
                                                 minimum_elsewhere=settings.ANOMALY_PHANTOM_MIN_SOLD_ELSEWHERE)]
    raise_cases(reports)
    return len(reports)


def event_latency_detect(*, now=None) -> int:
    now = now or timezone.now()
    minutes, limit = settings.ANOMALY_LATENCY_WINDOW_MINUTES, settings.ANOMALY_EVENT_LATENCY_SECONDS
    reports = []
    for source, (received, late) in statistics.late_events_by_source(
            since=now - timedelta(minutes=minutes), later_than=timedelta(seconds=limit)).items():
        if received < settings.ANOMALY_LATENCY_MIN_EVENTS or late * 2 < received:
            continue
        reports.append(_report(
            "event_latency", source,
            title=f"{source}: {late} of {received} events arrived more than {limit // 60} min after they occurred",
            statistic={"value": late, "baseline": received, "share_percent": round(100 * late / received, 1),
                       "threshold": f"half the events later than {limit} s", "window_minutes": minutes},
            action="Check the sender's queue and clock; late events can arrive after a count and be stale.",
            context={"source": source}))
    raise_cases(reports)
    return len(reports)


def minutes_open(local_now, opens, closes) -> int | None:
    """How long a shop with these hours has been open at `local_now` (minutes), or None
    when it is closed. Closing at or before opening means open over midnight."""
    now_minutes = local_now.hour * 60 + local_now.minute
    open_minutes, close_minutes = opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute
    if open_minutes < close_minutes:
        return now_minutes - open_minutes if open_minutes <= now_minutes < close_minutes else None
    if now_minutes >= open_minutes:
        return now_minutes - open_minutes
    return now_minutes + 24 * 60 - open_minutes if now_minutes < close_minutes else None


POS_SILENCE = "pos_silence"


def pos_silence_detect(*, now=None) -> int:
    now = now or timezone.now()
    minutes = settings.ANOMALY_POS_SILENCE_MINUTES
    local_now = timezone.localtime(now)
    last = statistics.last_event_by_location(
        sources=system_codes_of_kind(ExternalSystem.Kind.POS),
        since=now - timedelta(days=settings.ANOMALY_POS_SILENCE_LOOKBACK_DAYS))
    reports = []
    for location_id, (code, opens, closes) in statistics.locations_trading_hours(last).items():
        silent = now - last[location_id]
        open_for = minutes_open(local_now, opens, closes)
        if open_for is None or open_for < minutes or silent < timedelta(minutes=minutes):
            continue
        reports.append(_report(
            POS_SILENCE, str(location_id),
            title=f"No till events from {code} for {int(silent.total_seconds() // 60)} min while it is open",
            statistic={"value": int(silent.total_seconds() // 60), "threshold": f"{minutes} min",
                       "last_event_at": last[location_id].isoformat(),
                       "trading_hours": f"{opens:%H:%M}–{closes:%H:%M}", "open_for_minutes": open_for},
            action="Call the store: check the tills are on and connected, and the POS integration's health; "
                   "sales meanwhile are not in the ledger.",
            location_id=location_id))
    raise_cases(reports)
    firing = {report.dedup_key for report in reports}
    cleared = [pk for pk, key in active_cases(kind=KIND).filter(dedup_key__startswith=f"anomaly:{POS_SILENCE}:")
               .values_list("pk", "dedup_key") if key not in firing]
    if cleared:
        cases_resolve_cleared(cleared, note="The tills sent events again, or the shop closed.")
    return len(reports)


FREQUENT = (sudden_drops_detect, event_latency_detect, pos_silence_detect)
NIGHTLY = (shrink_spikes_detect, repeated_negatives_detect, phantom_inventory_detect)
