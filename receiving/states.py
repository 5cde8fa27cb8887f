"""Advance shipping notice (ASN) statuses, and the moves between them.

expected → partially_received → received → closed; cancelled before anything arrives.
A move not listed raises `InvalidState` (409 `invalid_state`), checked under the row lock
by `receiving.services`.
"""

from django.db import models


class AsnStatus(models.TextChoices):
    EXPECTED = "expected"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"


ASN_TRANSITIONS: dict[str, set[str]] = {
    AsnStatus.EXPECTED: {AsnStatus.PARTIALLY_RECEIVED, AsnStatus.RECEIVED, AsnStatus.CANCELLED},
    # Each further delivery against the notice, until the one that completes it.
    AsnStatus.PARTIALLY_RECEIVED: {AsnStatus.PARTIALLY_RECEIVED, AsnStatus.RECEIVED},
    AsnStatus.RECEIVED: {AsnStatus.CLOSED},
    AsnStatus.CLOSED: set(),
    AsnStatus.CANCELLED: set(),
}

# Notices whose outstanding units are in the location's `incoming`.
AWAITED_STATUSES = (AsnStatus.EXPECTED, AsnStatus.PARTIALLY_RECEIVED)
# Notices a dock may still receive against.
RECEIVABLE_STATUSES = AWAITED_STATUSES
