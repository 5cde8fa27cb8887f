"""What a channel may be offered at a location. Availability, the outbox's pushes and
sourcing all ask here.

- Point of sale sells what is on a store's shelf: stores only.
- Ship channels (web, marketplace, wholesale) may use a location flagged for shipping,
  while the ledger there is trusted: below the confidence threshold a location stops
  being offered until a count verifies it. A level with a confidence of its own (its SKU
  counted often enough there, `inventory.confidence`) is judged by that instead.
- A channel's safety buffer is held back at every level, on top of what is unavailable.
"""

from decimal import Decimal

from django.conf import settings

from inventory.models import Channel, Location


def confidence_threshold() -> Decimal:
    return Decimal(str(settings.SOURCING_CONFIDENCE_THRESHOLD))


def level_confidence(row: dict) -> Decimal:
    """The confidence the gate reads for a level row: the SKU × location's own score where
    it has one, else its location's."""
    own = row.get("confidence")
    return Decimal(own if own is not None else row["location__confidence"])


def location_eligible(*, channel_kind: str, location_kind: str, active: bool, ship_from_store: bool,
                      confidence: Decimal) -> bool:
    if not active:
        return False
    if channel_kind == Channel.Kind.POS:
        return location_kind == Location.Kind.STORE
    return ship_from_store and confidence >= confidence_threshold()


def available_after_buffer(available: int, channel: Channel | None) -> int:
    """A level's available units less what `channel` holds back (may be below zero)."""
    return available - (channel.safety_buffer if channel is not None else 0)


def offered_to(row: dict, channel: Channel | None) -> int:
    """What `channel` is told it may sell at a level (a `selectors.level_rows` row): never
    below 0, and 0 where the location may not serve it. Without a channel: the level's
    available units, never below 0."""
    if channel is not None and not location_eligible(
            channel_kind=channel.kind, location_kind=row["location__kind"], active=row["location__active"],
            ship_from_store=row["location__ship_from_store"], confidence=level_confidence(row)):
        return 0
    return max(0, available_after_buffer(row["available"], channel))
