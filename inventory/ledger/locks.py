"""Locking levels: the one order every writer takes them in.

Rows are locked with `select_for_update()` sorted by (sku id, location id), so two writers
that touch the same levels in any order queue up behind each other instead of deadlocking
(Saleor keeps the same rule in `warehouse/lock_objects.py`). A posting locks through here;
so does a service that must read levels under their lock before it decides what to post
(an event batch, an adjustment, a count).
"""

from collections.abc import Iterable
from typing import Any

from inventory.models import StockLevel
from inventory.selectors import LevelKey, levels_at


def _locked(keys: list[LevelKey], fields: tuple[str, ...]) -> list:
    levels = levels_at(keys).select_for_update().order_by("sku_id", "location_id")
    return list(levels.values("sku_id", "location_id", *fields) if fields else levels)


def lock_levels(keys: Iterable[LevelKey], *, fields: tuple[str, ...] = ()) -> dict[LevelKey, Any]:
    """Lock the levels of `keys` in (sku, location) order, creating those that do not
    exist yet, and return them by key. Must run inside a transaction.

    With `fields`, each level comes as a dict of those columns (and its ids) instead of a
    model instance: a posting of a thousand levels needs their numbers, not a thousand
    objects.

    Existing rows are locked first, in order; missing ones are inserted (a concurrent
    insert of the same key waits for ours, or we for it) and then locked, also in order."""
    keys = sorted(set(keys))
    if not keys:
        return {}

    def by_key(levels: list) -> dict[LevelKey, Any]:
        if fields:
            return {(level["sku_id"], level["location_id"]): level for level in levels}
        return {(level.sku_id, level.location_id): level for level in levels}

    levels = by_key(_locked(keys, fields))
    missing = [key for key in keys if key not in levels]
    if missing:
        StockLevel.objects.bulk_create([StockLevel(sku_id=sku_id, location_id=location_id)
                                        for sku_id, location_id in missing], ignore_conflicts=True)
        levels.update(by_key(_locked(missing, fields)))
    return levels
