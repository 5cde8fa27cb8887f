"""What inventory tells the apps above it, without importing them.

Inventory sits below the apps that act on its facts (layers in pyproject.toml), so it
cannot call them; it sends a Django signal instead, and an app that cares connects a
receiver when it starts (`AppConfig.ready`). The signal is sent inside the transaction
that recorded the fact: a receiver's work commits with it or not at all, and an error in
a receiver undoes the fact too, so the two never disagree.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.dispatch import Signal


@dataclass(frozen=True)
class AppliedEvent:
    """One partner event the ingest applied, as a receiver needs it: named and valued, so
    that it need not read the event, SKU or location again."""

    event_pk: int  # the stored InventoryEvent
    source: str
    event_id: str
    reference: str
    sku_id: int
    location_id: int
    quantity: int
    occurred_at: datetime
    sku_code: str
    location_code: str
    unit_cost: Decimal


# Sent by the ingest (`inventory.ingest`) once per batch, in event order, with `actor`.
# Each event is sent once: the ingest applies an event exactly once, and so does a replay.
#
# `held=[AppliedEvent, …]`: POS `return` events whose units went into quality control (the
# location's till-return policy is to inspect); they wait for someone to inspect them.
till_returns_held = Signal()
# `receipts=[AppliedEvent, …]`: `receipt` events put on hand, units that arrived outside
# any advance shipping notice (the ingest never receives against a notice).
receipts_recorded = Signal()
