"""What a channel system is told a (SKU, location) has available.

The same rule as the availability API (`inventory.eligibility.offered_to`): available
less the channel's buffer, never below 0, and 0 where the location may not serve the
channel. Each item carries the level's `version`, so a partner can ignore an older value
that arrives late.
"""

from inventory.eligibility import offered_to


def availability_item(row: dict, *, channel) -> dict:
    """The push item of a level row (`inventory.selectors.level_rows`)."""
    return {
        "sku": row["sku__code"],
        "location": row["location__code"],
        "available": offered_to(row, channel),
        "on_hand": row["on_hand"],
        "version": row["version"],
        "channel": channel.code if channel is not None else None,
    }
