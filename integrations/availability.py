"""What a channel system is told a (SKU, location) has available.

The same rule as the availability API: on_hand − committed − unavailable − the channel's
buffer, never below 0, and 0 where the location may not serve the channel. Each item
carries the level's `version`, so a partner can ignore an older value that arrives late.
"""

from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from inventory.eligibility import location_eligible
from inventory.models import StockLevel

_COLUMNS = ("sku_id", "location_id", "sku__code", "location__code", "on_hand", "committed", "damaged",
            "quality_control", "safety_stock", "version", "location__kind", "location__active",
            "location__ship_from_store", "location__confidence")


def level_rows(queryset: QuerySet[StockLevel]) -> Iterator[dict]:
    return queryset.values(*_COLUMNS).iterator(chunk_size=2000)


def levels_for_keys(keys: Iterable[tuple[int, int]]) -> list[dict]:
    """The level rows of (sku id, location id) keys, in one query."""
    keys = set(keys)
    if not keys:
        return []
    rows = StockLevel.objects.filter(sku_id__in={sku for sku, _ in keys},
                                     location_id__in={location for _, location in keys})
    return [row for row in rows.values(*_COLUMNS) if (row["sku_id"], row["location_id"]) in keys]


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
