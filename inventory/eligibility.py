"""Which locations may serve a channel. Availability and sourcing both ask here.

- Point of sale sells what is on a store's shelf: stores only.
- Ship channels (web, marketplace, wholesale) may use a location flagged for shipping,
  while the ledger there is trusted: below the confidence threshold a location stops
  being offered until a count verifies it.
"""

from decimal import Decimal

from django.conf import settings

from inventory.models import Channel, Location


def confidence_threshold() -> Decimal:
    return Decimal(str(settings.SOURCING_CONFIDENCE_THRESHOLD))


def location_eligible(*, channel_kind: str, location_kind: str, active: bool, ship_from_store: bool,
                      confidence: Decimal) -> bool:
    if not active:
        return False
    if channel_kind == Channel.Kind.POS:
        return location_kind == Location.Kind.STORE
    return ship_from_store and confidence >= confidence_threshold()
