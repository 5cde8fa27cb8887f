"""Reads of inventory data, scoped to the caller."""

from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from inventory.eligibility import location_eligible
from inventory.errors import LocationOutOfScope, UnknownChannel, UnknownLocation, UnknownSku
from inventory.models import (
    Adjustment,
    AdjustmentDecision,
    Channel,
    CycleCount,
    CycleCountLine,
    Location,
    Sku,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
)
from inventory.states import AdjustmentStatus
from retailops.access import LocationScope
from retailops.sql import execute, is_in, select_models


def skus_list() -> QuerySet[Sku]:
    return Sku.objects.all()


def locations_for(*, scope: LocationScope) -> QuerySet[Location]:
    return scope.filter(Location.objects.all(), field="pk")


def channels_list() -> QuerySet[Channel]:
    return Channel.objects.all()


@dataclass(frozen=True)
class AvailabilityRow:
    sku: str
    location: str
    on_hand: int
    committed: int
    unavailable: int
    available: int
    incoming: int


@dataclass(frozen=True)
class Availability:
    rows: list[AvailabilityRow]
    totals: dict[str, int]


def availability_for(*, sku_codes: list[str], location_codes: list[str] | None, channel_code: str | None,
                     scope: LocationScope) -> Availability:
    """Availability per (SKU, location) and per SKU: one statement on PostgreSQL, a fixed
    few elsewhere.

    available = max(0, on_hand − committed − unavailable − the channel's buffer); with a
    channel, locations that may not serve it show 0.
    """
    scope_ids = None if scope.is_all else sorted(scope.location_ids)
    skus, locations, channel, levels = _read_availability(sku_codes, location_codes or [], channel_code, scope_ids)
    unknown = [code for code in sku_codes if code not in skus]
    if unknown:
        raise UnknownSku(f"Unknown SKU '{unknown[0]}'.", field="sku")
    if channel_code is not None and channel is None:
        raise UnknownChannel(f"Unknown channel '{channel_code}'.", field="channel")
    if location_codes:
        unknown = [code for code in location_codes if code not in locations]
        if unknown:
            raise UnknownLocation(f"Unknown location '{unknown[0]}'.", field="location")
        outside = [code for code, pk in locations.items() if not scope.allows(pk)]
        if outside:
            raise LocationOutOfScope(f"Location '{outside[0]}' is outside the caller's location scope.")

    buffer = channel.safety_buffer if channel else 0
    rows: list[AvailabilityRow] = []
    totals = dict.fromkeys(sku_codes, 0)
    eligible: dict[str, bool] = {}  # per location: many SKUs, a few locations
    for (sku, location, on_hand, committed, damaged, quality_control, safety_stock, incoming, location_kind,
         active, ship_from_store, confidence) in sorted(levels):
        unavailable = damaged + quality_control + safety_stock
        available = max(0, on_hand - committed - unavailable - buffer)
        if channel is not None:
            if location not in eligible:
                eligible[location] = location_eligible(
                    channel_kind=channel.kind, location_kind=location_kind, active=active,
                    ship_from_store=ship_from_store, confidence=confidence,
                )
            if not eligible[location]:
                available = 0
        rows.append(AvailabilityRow(sku, location, on_hand, committed, unavailable, available, incoming))
        totals[sku] += available
    return Availability(rows=rows, totals=totals)


# Availability is the hottest read partners make: its statements are fixed SQL
# (`retailops.sql`), not querysets compiled on every request.


class _ChannelRule(NamedTuple):
    """What availability needs of a channel."""

    kind: str
    safety_buffer: int


_LEVEL_COLUMNS = ("loc.code, l.on_hand, l.committed, l.damaged, l.quality_control, l.safety_stock, l.incoming, "
                  "loc.kind, loc.active, loc.ship_from_store, loc.confidence")


def _read_availability(sku_codes: list[str], location_codes: list[str], channel_code: str | None,
                       scope_ids: list[int] | None) -> tuple[dict, dict, _ChannelRule | None, list[tuple]]:
    """The ids of the SKU and location codes that exist, the channel's rule (None if no
    such channel), and the SKUs' levels — at the locations named, else in the scope —
    as (SKU code, location code, buckets…, location fields…)."""
    if connection.vendor == "postgresql":
        if location_codes:
            statement, params = _AVAILABILITY_AT_LOCATIONS_SQL, [sku_codes, location_codes, channel_code]
        elif scope_ids is not None:
            statement, params = _AVAILABILITY_IN_SCOPE_SQL, [sku_codes, location_codes, scope_ids, channel_code]
        else:
            statement, params = _AVAILABILITY_EVERYWHERE_SQL, [sku_codes, location_codes, channel_code]
        skus, locations, channel, levels = {}, {}, None, []
        for kind, code, pk, channel_kind, safety_buffer, *level in execute(statement, params):
            if kind == "v":
                levels.append((code, *level))
            elif kind == "s":
                skus[code] = pk
            elif kind == "l":
                locations[code] = pk
            else:
                channel = _ChannelRule(channel_kind, safety_buffer)
        return skus, locations, channel, levels

    skus = dict(_codes_to_ids(Sku, sku_codes))
    locations = dict(_codes_to_ids(Location, location_codes))
    channel = None
    if channel_code is not None:
        channel = next((_ChannelRule(channel.kind, channel.safety_buffer)
                        for channel in select_models(Channel, "code = %s", [channel_code])), None)
    location_ids = sorted(locations.values()) if location_codes else scope_ids
    codes = {pk: code for code, pk in skus.items()}
    levels = [(codes[sku_id], *rest) for sku_id, *rest in _levels_of(sorted(codes), location_ids)]
    return skus, locations, channel, levels


def _availability_sql(levels: str) -> str:
    """One statement for the whole read, its rows tagged: the SKU codes that exist (s,
    from CTE s), the location codes that exist (l, from CTE n), the channel (c), and
    the levels (v) from `levels`, which joins the SKUs to the locations it picks.

    Every key drives a unique index, one probe per key (or per SKU for every location):
    as a prepared statement's generic plan this stays an index walk, where
    `sku_id = ANY(…) AND location_id = ANY(…)` turns into bitmap scans over every level
    of the SKUs and of the locations."""
    no_level = ", ".join(["NULL"] * len(_LEVEL_COLUMNS.split(",")))
    return (
        f"WITH s AS (SELECT id, code FROM {Sku._meta.db_table} WHERE code = ANY(%s::text[])), "  # noqa: S608
        f"n AS (SELECT id, code FROM {Location._meta.db_table} WHERE code = ANY(%s::text[])) "
        f"SELECT 'v', s.code, NULL::bigint, NULL::text, NULL::integer, {_LEVEL_COLUMNS} FROM {levels} "
        f"JOIN {Location._meta.db_table} loc ON loc.id = l.location_id "
        f"UNION ALL SELECT 's', code, id, NULL, NULL, {no_level} FROM s "
        f"UNION ALL SELECT 'l', code, id, NULL, NULL, {no_level} FROM n "
        f"UNION ALL SELECT 'c', code, id, kind, safety_buffer, {no_level} "
        f"FROM {Channel._meta.db_table} WHERE code = %s::text"
    )


_AVAILABILITY_AT_LOCATIONS_SQL = _availability_sql(
    f"s CROSS JOIN n JOIN {StockLevel._meta.db_table} l ON l.sku_id = s.id AND l.location_id = n.id")
_AVAILABILITY_IN_SCOPE_SQL = _availability_sql(
    f"s CROSS JOIN unnest(%s::bigint[]) AS m(location_id) "
    f"JOIN {StockLevel._meta.db_table} l ON l.sku_id = s.id AND l.location_id = m.location_id")
_AVAILABILITY_EVERYWHERE_SQL = _availability_sql(f"s JOIN {StockLevel._meta.db_table} l ON l.sku_id = s.id")


def _codes_to_ids(model, codes: list[str]) -> list[tuple[str, int]]:
    if not codes:
        return []
    where, params = is_in("code", codes)
    return execute(f"SELECT code, id FROM {model._meta.db_table} WHERE {where}", params)  # noqa: S608


def _levels_of(sku_ids: list[int], location_ids: list[int] | None) -> list[tuple]:
    """(SKU id, location code, buckets…, location fields…) of the SKUs' levels, off PostgreSQL."""
    where, params = is_in("l.sku_id", sku_ids)
    if location_ids is not None:
        locations_where, location_params = is_in("l.location_id", location_ids)
        where, params = f"{where} AND {locations_where}", params + location_params
    return execute(f"SELECT l.sku_id, {_LEVEL_COLUMNS} FROM {StockLevel._meta.db_table} l "  # noqa: S608
                   f"JOIN {Location._meta.db_table} loc ON loc.id = l.location_id WHERE {where}", params)


def adjustments_for(*, scope: LocationScope, source_system: str | None = None) -> QuerySet[Adjustment]:
    """Adjustments at the caller's locations (finance and central roles: all of them); a
    partner system (`source_system`) sees only the ones it asked for."""
    adjustments = Adjustment.objects.select_related("sku", "location", "requested_by").prefetch_related(
        Prefetch("decisions", queryset=AdjustmentDecision.objects.select_related("decided_by").order_by("pk")))
    if source_system is not None:
        adjustments = adjustments.filter(source_system=source_system)
    return scope.filter(adjustments)


def transfers_for(*, scope: LocationScope) -> QuerySet[Transfer]:
    """Transfers from or to the caller's locations, with their lines, in a fixed number of
    queries for any page."""
    transfers = Transfer.objects.select_related("source", "destination", "requested_by").prefetch_related(
        Prefetch("lines", queryset=TransferLine.objects.select_related("sku").order_by("pk")))
    if not scope.is_all:
        ids = scope.location_ids
        transfers = transfers.filter(Q(source_id__in=ids) | Q(destination_id__in=ids))
    return transfers


def adjustments_pending_for(*, scope: LocationScope) -> QuerySet[Adjustment]:
    """Adjustments waiting for finance, the most valuable first."""
    return adjustments_for(scope=scope).filter(status=AdjustmentStatus.PENDING_APPROVAL).order_by("-value", "pk")


def recent_movements_by_level(keys, *, limit: int = 10) -> dict[tuple[int, int], list[StockMovement]]:
    """The `limit` latest movements of each (sku id, location id) level, in one query for
    any number of levels (a window function ranks each level's movements)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    matching = Q()
    for sku_id, location_id in keys:
        matching |= Q(sku_id=sku_id, location_id=location_id)
    ranked = (
        StockMovement.objects.filter(matching)
        .annotate(rank=Window(RowNumber(), partition_by=[F("sku_id"), F("location_id")],
                              order_by=[F("occurred_at").desc(), F("pk").desc()]))
        .filter(rank__lte=limit).select_related("actor").order_by("sku_id", "location_id", "rank")
    )
    movements: dict[tuple[int, int], list[StockMovement]] = {key: [] for key in keys}
    for movement in ranked:
        movements[(movement.sku_id, movement.location_id)].append(movement)
    return movements


def on_hand_by_level(keys) -> dict[tuple[int, int], int]:
    """Today's on-hand of each (sku id, location id) level, in one query."""
    keys = set(keys)
    if not keys:
        return {}
    matching = Q()
    for sku_id, location_id in keys:
        matching |= Q(sku_id=sku_id, location_id=location_id)
    return {(sku_id, location_id): on_hand for sku_id, location_id, on_hand
            in StockLevel.objects.filter(matching).values_list("sku_id", "location_id", "on_hand")}


def counts_for(*, scope: LocationScope) -> QuerySet[CycleCount]:
    """Cycle counts at the caller's locations, newest first."""
    counts = CycleCount.objects.select_related("location", "scheduled_by", "assigned_to", "submitted_by")
    return scope.filter(counts).order_by("-pk")


def count_with_lines(*, scope: LocationScope, count_id: int) -> CycleCount:
    """One count the caller may see, its lines with SKU and resulting adjustment loaded
    (CycleCount.DoesNotExist otherwise)."""
    lines = CycleCountLine.objects.select_related("sku", "adjustment").order_by("sku__code")
    return counts_for(scope=scope).prefetch_related(Prefetch("lines", queryset=lines)).get(pk=count_id)
