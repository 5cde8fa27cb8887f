"""Reads of ledger statistics for the anomaly detectors (`casework.anomalies`): each a
set-based query over a window, returning rows for every level or location that matches,
never a query per row."""

from datetime import datetime, timedelta

from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, Max, OuterRef, Q, Sum
from django.db.models.functions import Coalesce

from inventory.models import Adjustment, Bucket, InventoryEvent, Location, StockLevel, StockMovement, occurred_since
from inventory.selectors import levels_at
from inventory.states import AdjustmentStatus

# On-hand leaves a level this way in the ordinary course of trade.
SALE = Q(reason="sale") | Q(reason__startswith="shipped")
TRADE = SALE | Q(reason__in=["transfer_out", "reservation", "reservation_released"]) | Q(
    document_type__in=["order", "transfer"])
SHRINK_REASONS = ("shrink", "theft", "damaged")


def on_hand_lost_outside_trade(*, since: datetime, minimum_units: int) -> list[dict]:
    """Levels whose on-hand fell by at least `minimum_units` since `since` through
    movements that are not sales, shipments or transfers: sku_id, location_id, lost, and
    on_hand now, with SKU code, location code and price."""
    lost = (StockMovement.objects.filter(occurred_since(since), bucket=Bucket.ON_HAND, delta__lt=0)
            .exclude(TRADE).values("sku_id", "location_id").annotate(lost=-Sum("delta"))
            .filter(lost__gte=minimum_units))
    rows = {(row["sku_id"], row["location_id"]): row["lost"] for row in lost}
    if not rows:
        return []
    levels = levels_at(rows.keys()).values("pk", "sku_id", "location_id", "on_hand", "sku__code",
                                           "location__code", "sku__price")
    return [{**level, "lost": rows[(level["sku_id"], level["location_id"])]} for level in levels]


def shrink_value_by_location(*, since: datetime, until: datetime) -> dict[int, float]:
    """Value of applied shrink, theft and damage adjustments per location in [since, until)."""
    rows = (Adjustment.objects.filter(status=AdjustmentStatus.APPLIED, reason__in=SHRINK_REASONS,
                                      applied_at__gte=since, applied_at__lt=until)
            .values("location_id").annotate(total=Sum("value")).values_list("location_id", "total"))
    return {location_id: float(total) for location_id, total in rows}


def levels_not_selling(*, since: datetime, minimum_elsewhere: int) -> list[dict]:
    """Store levels with units on hand, held since before `since`, without a sale since,
    whose SKU sold at least `minimum_elsewhere` units at other locations since: phantom
    inventory's signature. Rows: pk, sku_id, location_id, on_hand, codes, price, sold
    elsewhere."""
    sold_elsewhere = (StockMovement.objects.filter(SALE, occurred_since(since), sku_id=OuterRef("sku_id"),
                                                   bucket=Bucket.ON_HAND, delta__lt=0)
                      .exclude(location_id=OuterRef("location_id")).values("sku_id")
                      .annotate(units=-Sum("delta")).values("units"))
    same_level = {"sku_id": OuterRef("sku_id"), "location_id": OuterRef("location_id")}
    sold_here = StockMovement.objects.filter(SALE, occurred_since(since), **same_level, bucket=Bucket.ON_HAND,
                                             delta__lt=0)
    held_before = StockMovement.objects.filter(**same_level, occurred_at__lt=since)
    return list(StockLevel.objects.filter(on_hand__gt=0, location__kind=Location.Kind.STORE, location__active=True)
                .filter(~Exists(sold_here), Exists(held_before))
                .annotate(sold_elsewhere=Coalesce(sold_elsewhere, 0))
                .filter(sold_elsewhere__gte=minimum_elsewhere)
                .values("pk", "sku_id", "location_id", "on_hand", "sku__code", "location__code", "sku__price",
                        "sold_elsewhere"))


def late_events_by_source(*, since: datetime, later_than: timedelta) -> dict[str, tuple[int, int]]:
    """Per sending system, events received since `since`: (how many, how many arrived
    more than `later_than` after they occurred)."""
    latency = ExpressionWrapper(F("received_at") - F("occurred_at"), output_field=DurationField())
    rows = (InventoryEvent.objects.filter(received_at__gte=since).annotate(latency=latency)
            .values("source").annotate(received=Count("pk"), late=Count("pk", filter=Q(latency__gt=later_than)))
            .values_list("source", "received", "late"))
    return {source: (received, late) for source, received, late in rows}


def last_event_by_location(*, sources, since: datetime) -> dict[int, datetime]:
    """Per location, when the latest event from one of `sources` (system codes) arrived,
    among the events received since `since`: locations with none are not in the answer."""
    return dict(InventoryEvent.objects.filter(source__in=list(sources), received_at__gte=since,
                                              location__isnull=False)
                .values("location_id").annotate(last=Max("received_at")).values_list("location_id", "last"))


def locations_trading_hours(location_ids) -> dict[int, tuple]:
    """Per location: (code, opens at, closes at)."""
    return {pk: (code, opens, closes) for pk, code, opens, closes in Location.objects.filter(
        pk__in=list(location_ids), active=True).values_list("pk", "code", "trading_opens_at", "trading_closes_at")}
