"""What a channel system is told a (SKU, location) has available.

The same rule as the availability API: on_hand − committed − unavailable − the channel's
buffer, never below 0, and 0 where the location may not serve the channel. Each item
carries the level's `version`, so a partner can ignore an older value that arrives late.
"""

from collections.abc import Iterable, Iterator
from functools import cache

from django.db import connection
from django.db.models import QuerySet

from inventory.eligibility import location_eligible
from inventory.models import Location, Sku, StockLevel
from retailops.sql import execute

# The most items one availability push carries, on change (a message's levels) and in
# the periodic full push alike.
ITEMS_PER_PUSH = 500

_COLUMNS = ("sku_id", "location_id", "sku__code", "location__code", "on_hand", "committed", "damaged",
            "quality_control", "safety_stock", "version", "location__kind", "location__active",
            "location__ship_from_store", "location__confidence")


def level_rows(queryset: QuerySet[StockLevel]) -> Iterator[dict]:
    return queryset.values(*_COLUMNS).iterator(chunk_size=2000)


def levels_for_keys(keys: Iterable[tuple[int, int]]) -> list[dict]:
    """The level rows of (sku id, location id) keys, in one query. On PostgreSQL the keys
    travel as two arrays and the query reads exactly their rows; elsewhere it reads the
    keys' SKUs at the keys' locations and keeps the keys."""
    keys = sorted(set(keys))
    if not keys:
        return []
    if connection.vendor == "postgresql":
        rows = execute(_levels_by_exact_keys_sql(), [[sku for sku, _ in keys], [location for _, location in keys]])
        return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    wanted = set(keys)
    rows = StockLevel.objects.filter(sku_id__in={sku for sku, _ in keys},
                                     location_id__in={location for _, location in keys})
    return [row for row in rows.values(*_COLUMNS) if (row["sku_id"], row["location_id"]) in wanted]


@cache
def _levels_by_exact_keys_sql() -> str:
    prefixes = {"sku__": "s.", "location__": "loc."}
    columns = [next((alias + name.removeprefix(prefix) for prefix, alias in prefixes.items()
                     if name.startswith(prefix)), f"l.{name}") for name in _COLUMNS]
    return (
        f"SELECT {', '.join(columns)} "  # noqa: S608 (no user input)
        "FROM unnest(%s::bigint[], %s::bigint[]) AS k(sku_id, location_id) "
        f"JOIN {StockLevel._meta.db_table} l ON l.sku_id = k.sku_id AND l.location_id = k.location_id "
        f"JOIN {Sku._meta.db_table} s ON s.id = l.sku_id JOIN {Location._meta.db_table} loc ON loc.id = l.location_id"
    )


def availability_item(row: dict, *, channel) -> dict:
    unavailable = row["damaged"] + row["quality_control"] + row["safety_stock"]
    available = row["on_hand"] - row["committed"] - unavailable
    if channel is not None:
        available -= channel.safety_buffer
        if not location_eligible(channel_kind=channel.kind, location_kind=row["location__kind"],
                                 active=row["location__active"], ship_from_store=row["location__ship_from_store"],
                                 confidence=row["location__confidence"]):
            available = 0
    return {
        "sku": row["sku__code"],
        "location": row["location__code"],
        "available": max(0, available),
        "on_hand": row["on_hand"],
        "version": row["version"],
        "channel": channel.code if channel is not None else None,
    }
