"""Reads of inventory data, scoped to the caller. Other apps read inventory through here.

One selector per question: a location (or channel, or SKU) by code, the levels of keys,
what a level offers a channel. Codes that name a location follow one rule: an inactive
location is closed, so naming it is naming no location (`unknown_location`); it still
shows in reads of its levels and its history.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from operator import or_

from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet, Sum, Window
from django.db.models.functions import Abs, RowNumber, TruncDate, TruncWeek
from django.utils import timezone

from inventory.eligibility import offered_to
from inventory.errors import LocationOutOfScope, UnknownChannel, UnknownLocation, UnknownSku
from inventory.models import (
    Adjustment,
    AdjustmentDecision,
    Bucket,
    Channel,
    CycleCount,
    CycleCountLine,
    InventoryEvent,
    LevelConfidence,
    Location,
    LocationConfidence,
    Sku,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    occurred_since,
)
from inventory.states import AdjustmentStatus
from retailops.access import LocationScope
from retailops.errors import InvalidInput

LevelKey = tuple[int, int]  # (sku id, location id)


def skus_list() -> QuerySet[Sku]:
    return Sku.objects.all()


def locations_for(*, scope: LocationScope) -> QuerySet[Location]:
    return scope.filter(Location.objects.all(), field="pk")


def locations_active() -> QuerySet[Location]:
    """The locations in use, by code: what staff can be given to work at."""
    return Location.objects.filter(active=True).order_by("code")


def channels_list() -> QuerySet[Channel]:
    return Channel.objects.all()


def highest_channel_priority() -> int:
    """The priority of the most important active channel (0 when there is none)."""
    return Channel.objects.filter(active=True).aggregate(top=Max("priority"))["top"] or 0


# --- Codes ---------------------------------------------------------------------------------


def skus_by_code(codes: Iterable[str]) -> dict[str, Sku]:
    """The SKUs these codes name, active or not (an event may still sell a SKU that is no
    longer offered); a code naming none is missing from the result."""
    return {sku.code: sku for sku in Sku.objects.filter(code__in=set(codes))}


def active_skus(codes_by_field: dict[str, str]) -> dict[str, Sku]:
    """The active SKUs named by each input field (`{"lines[0].sku": "A", …}`), by code;
    `UnknownSku` naming the first field whose code names none, or an inactive one."""
    skus = skus_by_code(codes_by_field.values())
    for field, code in codes_by_field.items():
        if code not in skus or not skus[code].active:
            raise UnknownSku(f"Unknown SKU '{code}'.", field=field)
    return skus


def line_skus(lines, *, noun: str, max_lines: int, max_quantity: int | None = None) -> dict[str, Sku]:
    """The active SKUs of a document's lines (each with `.sku` and `.quantity`), by code:
    1 to `max_lines` lines, each SKU once, each quantity positive (and at most
    `max_quantity`). The first line that breaks a rule is named in the error."""
    if not 1 <= len(lines) <= max_lines:
        raise InvalidInput(f"{noun} has 1 to {max_lines} lines.", code="invalid_lines", field="lines")
    skus = skus_by_code(line.sku for line in lines)
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku not in skus or not skus[line.sku].active:
            raise UnknownSku(f"Unknown SKU '{line.sku}'.", field=f"lines[{index}].sku")
        if line.quantity <= 0:
            raise InvalidInput("quantity must be positive.", code="min_value", field=f"lines[{index}].quantity")
        if max_quantity is not None and line.quantity > max_quantity:
            raise InvalidInput(f"quantity must be at most {max_quantity:,}.", code="max_value",
                               field=f"lines[{index}].quantity")
        if line.sku in seen:
            raise InvalidInput(f"SKU '{line.sku}' appears twice.", code="duplicate_sku", field=f"lines[{index}].sku")
        seen.add(line.sku)
    return skus


def locations_by_code(codes: Iterable[str]) -> dict[str, Location]:
    """The active locations these codes name; a code naming none, or an inactive one, is
    missing from the result."""
    return {location.code: location for location in Location.objects.filter(code__in=set(codes), active=True)}


def sku_codes(ids: Iterable[int]) -> dict[int, str]:
    """The codes of these SKU ids, by id: one query."""
    return dict(Sku.objects.filter(pk__in=set(ids)).values_list("pk", "code"))


def location_codes(ids: Iterable[int]) -> dict[int, str]:
    """The codes of these location ids, by id: one query."""
    return dict(Location.objects.filter(pk__in=set(ids)).values_list("pk", "code"))


def location_by_code(code: str, *, field: str = "location", scope: LocationScope | None = None) -> Location:
    """The active location named `code`, inside `scope` when given. `UnknownLocation` for
    no such location (or an inactive one), `LocationOutOfScope` outside the scope."""
    try:
        location = Location.objects.get(code=code, active=True)
    except Location.DoesNotExist:
        raise UnknownLocation(f"Unknown location '{code}'.", field=field) from None
    if scope is not None and not scope.allows(location.pk):
        raise LocationOutOfScope(f"Location '{code}' is outside the caller's location scope.")
    return location


def channel_by_code(code: str, *, field: str = "channel") -> Channel:
    """The active channel named `code`; `UnknownChannel` otherwise."""
    try:
        return Channel.objects.get(code=code, active=True)
    except Channel.DoesNotExist:
        raise UnknownChannel(f"Unknown channel '{code}'.", field=field) from None


# --- Levels --------------------------------------------------------------------------------


def levels_at(keys: Iterable[LevelKey]) -> QuerySet[StockLevel]:
    """The levels of (sku id, location id) keys, exactly: one query for any number, its
    condition grouped by whichever of SKU and location the keys share most (a store's
    batch names a few locations, an order's lines a few SKUs)."""
    by_location: dict[int, list[int]] = defaultdict(list)
    by_sku: dict[int, list[int]] = defaultdict(list)
    for sku_id, location_id in set(keys):
        by_location[location_id].append(sku_id)
        by_sku[sku_id].append(location_id)
    if not by_location:
        return StockLevel.objects.none()
    if len(by_location) <= len(by_sku):
        conditions = [Q(location_id=location, sku_id__in=sorted(skus)) for location, skus in by_location.items()]
    else:
        conditions = [Q(sku_id=sku, location_id__in=sorted(locations)) for sku, locations in by_sku.items()]
    return StockLevel.objects.filter(reduce(or_, conditions))


# What readers of levels get: the buckets, and the location fields that decide whether a
# channel may be offered its units (`eligibility.offered_to`).
LEVEL_FIELDS = ("sku_id", "location_id", "sku__code", "location__code", "on_hand", "committed", "unavailable",
                "available", "incoming", "version", "location__kind", "location__region", "location__active",
                "location__ship_from_store", "location__pickup", "location__confidence", "confidence")


def level_rows(levels: QuerySet[StockLevel]) -> QuerySet[dict]:
    """`levels` as rows of LEVEL_FIELDS, with their SKU and location in the same query."""
    return levels.values(*LEVEL_FIELDS)


def every_level_row():
    """Every level's row, in (SKU, location) order, streamed in chunks: a full push."""
    return level_rows(StockLevel.objects.order_by("sku_id", "location_id")).iterator(chunk_size=2000)


# What sourcing weighs of a level: its available units, and its location.
CANDIDATE_FIELDS = ("sku_id", "location_id", "available", "location__code", "location__kind", "location__region",
                    "location__active", "location__ship_from_store", "location__pickup", "location__confidence",
                    "location__capacity", "confidence")


def levels_of_skus(sku_ids: Iterable[int], *, location_id: int | None = None) -> QuerySet[dict]:
    """Every level of these SKUs (at one location, when given) as CANDIDATE_FIELDS rows:
    sourcing's candidates, in one query."""
    levels = StockLevel.objects.filter(sku_id__in=sorted(set(sku_ids)))
    if location_id is not None:
        levels = levels.filter(location_id=location_id)
    return levels.values(*CANDIDATE_FIELDS)


# --- Availability --------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    rows: list[dict]  # per (SKU, location), in the API's shape
    totals: dict[str, int]  # per SKU code


def availability_for(*, sku_codes: list[str], location_codes: list[str] | None, channel_code: str | None,
                     scope: LocationScope) -> Availability:
    """Availability per (SKU, location) and per SKU, as a channel (when given) is offered
    it (`eligibility.offered_to`): at the locations named, else at every location in the
    caller's scope.

    Unknown codes are named in this order: the first SKU, the channel, the first
    location; then a named location outside the scope. One query for the named locations
    (their ids let the levels be read by the (location, SKU) index, rather than every
    level of those locations), one for the levels with their codes, one for the channel;
    the SKU codes are looked up on their own only when some have no level here, to tell
    a code without stock from an unknown one."""
    locations = locations_by_code(location_codes) if location_codes else None
    levels = StockLevel.objects.filter(sku__code__in=sku_codes)
    if locations is not None:
        levels = levels.filter(location_id__in=[location.pk for location in locations.values()])
    else:
        levels = scope.filter(levels)
    rows = sorted(level_rows(levels), key=lambda row: (row["sku__code"], row["location__code"]))
    listed = {row["sku__code"] for row in rows}
    unlisted = [code for code in sku_codes if code not in listed]
    if unlisted:
        known = skus_by_code(unlisted)
        unknown = [code for code in unlisted if code not in known]
        if unknown:
            raise UnknownSku(f"Unknown SKU '{unknown[0]}'.", field="sku")
    channel = channel_by_code(channel_code) if channel_code is not None else None
    if locations is not None:
        unknown = [code for code in location_codes if code not in locations]
        if unknown:
            raise UnknownLocation(f"Unknown location '{unknown[0]}'.", field="location")
        outside = [code for code in location_codes if not scope.allows(locations[code].pk)]
        if outside:
            raise LocationOutOfScope(f"Location '{outside[0]}' is outside the caller's location scope.")

    totals = dict.fromkeys(sku_codes, 0)
    result = []
    for row in rows:
        available = offered_to(row, channel)
        result.append({"sku": row["sku__code"], "location": row["location__code"], "on_hand": row["on_hand"],
                       "committed": row["committed"], "unavailable": row["unavailable"], "available": available,
                       "incoming": row["incoming"]})
        totals[row["sku__code"]] += available
    return Availability(rows=result, totals=totals)


def on_hand_by_level(keys) -> dict[LevelKey, int]:
    """Today's on-hand of each (sku id, location id) level, in one query."""
    return {(sku_id, location_id): on_hand for sku_id, location_id, on_hand
            in levels_at(keys).values_list("sku_id", "location_id", "on_hand")}


def levels_selling_uncounted(*, since) -> QuerySet[StockLevel]:
    """Levels that lost on-hand since `since`, existed before it, and were not counted
    since (never, or before it), with their SKU and location."""
    same_level = {"sku_id": OuterRef("sku_id"), "location_id": OuterRef("location_id")}
    selling = StockMovement.objects.filter(occurred_since(since), **same_level, bucket=Bucket.ON_HAND, delta__lt=0)
    existed = StockMovement.objects.filter(**same_level, occurred_at__lt=since)
    return (StockLevel.objects.filter(Q(last_counted_at__isnull=True) | Q(last_counted_at__lt=since))
            .filter(Exists(selling), Exists(existed)).select_related("sku", "location"))


def levels_counted_since(keys, *, since) -> set[LevelKey]:
    """Which of these levels were counted at or after `since`."""
    return set(levels_at(keys).filter(last_counted_at__gte=since).values_list("sku_id", "location_id"))


def level_at(key: LevelKey) -> StockLevel | None:
    """The level of one (sku id, location id), if it exists."""
    return levels_at([key]).first()


def recent_movements_by_level(keys, *, limit: int = 10) -> dict[LevelKey, list[StockMovement]]:
    """The `limit` latest movements of each (sku id, location id) level, with their actor
    and inbound event, in one query for any number of levels (a window function ranks each
    level's movements)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    matching = reduce(or_, (Q(sku_id=sku_id, location_id=location_id) for sku_id, location_id in keys))
    ranked = (
        StockMovement.objects.filter(matching)
        .annotate(rank=Window(RowNumber(), partition_by=[F("sku_id"), F("location_id")],
                              order_by=[F("occurred_at").desc(), F("pk").desc()]))
        .filter(rank__lte=limit).select_related("actor", "event").order_by("sku_id", "location_id", "rank")
    )
    movements: dict[LevelKey, list[StockMovement]] = {key: [] for key in keys}
    for movement in ranked:
        movements[(movement.sku_id, movement.location_id)].append(movement)
    return movements


def units_out_by_document(*, document_type: str, document_id: str) -> dict[int, int] | None:
    """The units that left on-hand for one business document, by SKU id, as the ledger
    records them: an order's shipments and pickups (`document_type="order"`). None when
    the ledger has no movement of that document at all (no such document). One query.

    Apps that may not read the document's own tables (returns, beside orders) learn from
    here what actually went out on it."""
    rows = (StockMovement.objects.filter(document_type=document_type, document_id=document_id)
            .values("sku_id").annotate(out=Sum("delta", filter=Q(bucket=Bucket.ON_HAND, delta__lt=0)))
            .values_list("sku_id", "out"))
    rows = list(rows)
    if not rows:
        return None
    return {sku_id: -(out or 0) for sku_id, out in rows if out}


def on_hand_moved_after(key: LevelKey, *, moment) -> int:
    """The sum of one level's on-hand movements that occurred after `moment`: on-hand now
    minus this is the ledger's on-hand as of `moment` (the "as of" rule of counts and
    reconciliation)."""
    sku_id, location_id = key
    return StockMovement.objects.filter(
        occurred_since(moment, inclusive=False), sku_id=sku_id, location_id=location_id, bucket=Bucket.ON_HAND,
    ).aggregate(total=Sum("delta"))["total"] or 0


def movements_around(key: LevelKey, *, moment, each_side: int = 15) -> tuple[list[StockMovement], list[StockMovement]]:
    """One level's movements nearest `moment`: up to `each_side` that occurred at or
    before it (oldest first) and up to `each_side` after it, with their actor and inbound
    event, in two index-backed queries."""
    sku_id, location_id = key
    movements = StockMovement.objects.filter(sku_id=sku_id, location_id=location_id).select_related("actor", "event")
    before = list(movements.filter(occurred_at__lte=moment).order_by("-occurred_at", "-pk")[:each_side])
    after = list(movements.filter(occurred_since(moment, inclusive=False)).order_by("occurred_at", "pk")[:each_side])
    return before[::-1], after


def event_by_id(event_id: int) -> InventoryEvent | None:
    return InventoryEvent.objects.filter(pk=event_id).first()


def rejected_events_like(event_id: int) -> QuerySet[InventoryEvent]:
    """The rejected events from the same sender for the same SKU and location codes as
    this one (it included, while it is rejected): what one rejected-event case stands for."""
    named = InventoryEvent.objects.filter(pk=event_id).values("source", "sku_code", "location_code").first()
    if named is None:
        return InventoryEvent.objects.none()
    return InventoryEvent.objects.filter(status=InventoryEvent.Status.REJECTED, **named)


def adjustments_for(*, scope: LocationScope, source_system: str | None = None) -> QuerySet[Adjustment]:
    """Adjustments at the caller's locations (finance and central roles: all of them); a
    partner system (`source_system`) sees only the ones it asked for."""
    adjustments = Adjustment.objects.select_related("sku", "location", "requested_by").prefetch_related(
        Prefetch("decisions", queryset=AdjustmentDecision.objects.select_related("decided_by").order_by("pk")))
    if source_system is not None:
        adjustments = adjustments.filter(source_system=source_system)
    return scope.filter(adjustments)


def transfers_for(*, scope: LocationScope, source_system: str | None = None) -> QuerySet[Transfer]:
    """Transfers from or to the caller's locations, with their lines, in a fixed number of
    queries for any page; a partner system (`source_system`) sees only the ones it asked
    for, as with orders and adjustments."""
    transfers = Transfer.objects.select_related("source", "destination", "requested_by").prefetch_related(
        Prefetch("lines", queryset=TransferLine.objects.select_related("sku").order_by("pk")))
    if source_system is not None:
        transfers = transfers.filter(source_system=source_system)
    if not scope.is_all:
        ids = scope.location_ids
        transfers = transfers.filter(Q(source_id__in=ids) | Q(destination_id__in=ids))
    return transfers


def adjustments_pending_for(*, scope: LocationScope) -> QuerySet[Adjustment]:
    """Adjustments waiting for finance, the most valuable first."""
    return adjustments_for(scope=scope).filter(status=AdjustmentStatus.PENDING_APPROVAL).order_by("-value", "pk")


def counts_for(*, scope: LocationScope) -> QuerySet[CycleCount]:
    """Cycle counts at the caller's locations, newest first."""
    counts = CycleCount.objects.select_related("location", "scheduled_by", "assigned_to", "submitted_by")
    return scope.filter(counts).order_by("-pk")


def count_with_lines(*, scope: LocationScope, count_id: int) -> CycleCount:
    """One count the caller may see, its lines with SKU and resulting adjustment loaded
    (CycleCount.DoesNotExist otherwise)."""
    lines = CycleCountLine.objects.select_related("sku", "adjustment").order_by("sku__code")
    return counts_for(scope=scope).prefetch_related(Prefetch("lines", queryset=lines)).get(pk=count_id)


# --- Stock inquiry -----------------------------------------------------------------------------

# What the inquiry's search matches: a SKU by code or name, or a location by code or name.
INQUIRY_ORDER = ("sku__code", "location__code")


def levels_search(*, scope: LocationScope, query: str) -> QuerySet[StockLevel]:
    """The levels the caller may see of the SKUs or locations `query` names: a code, or
    the start of one, or a word of a name (case-insensitive), with SKU and location
    joined, by SKU then location. An empty query names nothing."""
    query = query.strip()
    if not query:
        return StockLevel.objects.none()
    matching = (Q(sku__code__istartswith=query) | Q(sku__name__icontains=query)
                | Q(location__code__istartswith=query) | Q(location__name__icontains=query))
    return scope.filter(StockLevel.objects.filter(matching)).select_related("sku", "location").order_by(
        *INQUIRY_ORDER)


def level_visible(*, scope: LocationScope, sku_code: str, location_code: str) -> StockLevel:
    """One level the caller may see, by SKU and location code (inactive ones included:
    their history stays readable); StockLevel.DoesNotExist otherwise."""
    levels = StockLevel.objects.filter(sku__code=sku_code, location__code=location_code)
    return scope.filter(levels).select_related("sku", "location").get()


def levels_of_sku(*, scope: LocationScope, sku_id: int) -> QuerySet[StockLevel]:
    """Every level of one SKU at the locations the caller may see, by location code."""
    return scope.filter(StockLevel.objects.filter(sku_id=sku_id)).select_related("location").order_by(
        "location__code")


@dataclass(frozen=True)
class MovementFilters:
    """What a person narrows a level's ledger to; every field optional."""

    since: date | None = None  # occurred on or after this day (in the server's time zone)
    until: date | None = None  # occurred on or before this day
    bucket: str = ""
    reason: str = ""
    document_type: str = ""
    document_id: str = ""


def movements_of_level(*, sku_id: int, location_id: int,
                       filters: MovementFilters = MovementFilters()) -> QuerySet[StockMovement]:
    """A level's movements, newest first (by when they occurred, then by id), with their
    actor and inbound event; read by the (sku, location, occurred_at) index."""
    movements = StockMovement.objects.filter(sku_id=sku_id, location_id=location_id)
    if filters.since:
        movements = movements.filter(occurred_since(_start_of(filters.since)))
    if filters.until:
        movements = movements.filter(occurred_at__lt=_start_of(filters.until + timedelta(days=1)))
    if filters.bucket:
        movements = movements.filter(bucket=filters.bucket)
    if filters.reason:
        movements = movements.filter(reason=filters.reason)
    if filters.document_type:
        movements = movements.filter(document_type=filters.document_type)
    if filters.document_id:
        movements = movements.filter(document_id=filters.document_id)
    return movements.select_related("actor", "event").order_by("-occurred_at", "-pk")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def reasons_of_level(*, sku_id: int, location_id: int) -> list[str]:
    """The reason codes a level's ledger holds, for a filter's choices."""
    return sorted(set(StockMovement.objects.filter(sku_id=sku_id, location_id=location_id)
                      .values_list("reason", flat=True).distinct()))


def event_visible(*, scope: LocationScope, event_id: int) -> InventoryEvent:
    """One inbound event the caller may see (a store user: those at their locations);
    InventoryEvent.DoesNotExist otherwise."""
    return scope.filter(InventoryEvent.objects.filter(pk=event_id)).get()


def location_visible(*, scope: LocationScope, code: str) -> Location:
    """One location the caller may see, active or not; Location.DoesNotExist otherwise."""
    return locations_for(scope=scope).get(code=code)


def confidence_scores_of(location: Location, *, limit: int = 10) -> list[LocationConfidence]:
    """A location's latest confidence scorings, newest first (the first explains the
    current score: its factors)."""
    return list(LocationConfidence.objects.filter(location=location).select_related("actor")
                .order_by("-computed_at", "-pk")[:limit])


def level_confidence_latest(level: StockLevel) -> LevelConfidence | None:
    """A level's latest SKU × location confidence scoring (its factors explain the score)."""
    return (LevelConfidence.objects.filter(sku_id=level.sku_id, location_id=level.location_id)
            .order_by("-computed_at", "-pk").first())


# --- Figures for the KPI dashboard (backoffice.kpis) ------------------------------------------


def count_lines_submitted(*, scope: LocationScope, start, end) -> QuerySet[CycleCountLine]:
    """Lines counted in counts submitted in [start, end) at the caller's locations."""
    lines = CycleCountLine.objects.filter(count__submitted_at__gte=start, count__submitted_at__lt=end,
                                          variance__isnull=False)
    return scope.filter(lines, "count__location")


def count_accuracy_by_location(*, scope: LocationScope, start, end, by_day: bool = False) -> QuerySet[dict]:
    """Per location (and per day of submission, `by_day`): lines counted, lines where the
    count matched the system, and the units the system expected against the units it was off by."""
    lines = count_lines_submitted(scope=scope, start=start, end=end)
    keys = ["count__location_id", "count__location__code", "count__location__name"]
    if by_day:
        lines, keys = lines.annotate(day=TruncDate("count__submitted_at")), ["day", *keys]
    return (lines.values(*keys)
            .annotate(lines=Count("pk"), exact=Count("pk", filter=Q(variance=0)),
                      expected_units=Sum(Abs("system_quantity")), variance_units=Sum(Abs("variance")))
            .order_by(*keys[:-3], "count__location__code"))


def adjustments_applied(*, scope: LocationScope, start, end) -> QuerySet[Adjustment]:
    """Adjustments applied in [start, end) at the caller's locations."""
    return scope.filter(Adjustment.objects.filter(status=AdjustmentStatus.APPLIED, applied_at__gte=start,
                                                  applied_at__lt=end))


def adjustment_value_by_week(*, scope: LocationScope, start, end, by_day: bool = False) -> QuerySet[dict]:
    """Value adjusted per week (starting Monday; per day with `by_day`, under "week"),
    reason and root cause."""
    period = TruncDate("applied_at") if by_day else TruncWeek("applied_at")
    return (adjustments_applied(scope=scope, start=start, end=end).annotate(week=period)
            .values("week", "reason", "root_cause").annotate(n=Count("pk"), value=Sum("value"))
            .order_by("week", "reason", "root_cause"))
