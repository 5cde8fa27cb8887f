"""Adjustment, transfer and cycle count statuses, and the moves between them.

The tables are the whole lifecycle: a move not listed raises `InvalidState` (409
`invalid_state`), checked under the row lock by the services in `inventory.adjustments`
and `inventory.transfers`.
"""

from django.db import models


class AdjustmentStatus(models.TextChoices):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    APPLIED = "applied"
    REJECTED = "rejected"


ADJUSTMENT_TRANSITIONS: dict[str, set[str]] = {
    # Submitting: below the policy's threshold it applies at once, at or above it waits.
    AdjustmentStatus.DRAFT: {AdjustmentStatus.PENDING_APPROVAL, AdjustmentStatus.APPLIED},
    AdjustmentStatus.PENDING_APPROVAL: {AdjustmentStatus.APPROVED, AdjustmentStatus.REJECTED},
    # Approving applies in the same transaction; `approved` is seen in the history only.
    AdjustmentStatus.APPROVED: {AdjustmentStatus.APPLIED},
    AdjustmentStatus.APPLIED: set(),
    AdjustmentStatus.REJECTED: set(),
}


class TransferStatus(models.TextChoices):
    REQUESTED = "requested"
    APPROVED = "approved"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"


TRANSFER_TRANSITIONS: dict[str, set[str]] = {
    TransferStatus.REQUESTED: {TransferStatus.APPROVED, TransferStatus.CANCELLED},
    TransferStatus.APPROVED: {TransferStatus.SHIPPED, TransferStatus.CANCELLED},
    TransferStatus.SHIPPED: {TransferStatus.RECEIVED},
    TransferStatus.RECEIVED: {TransferStatus.CLOSED},
    TransferStatus.CLOSED: set(),
    TransferStatus.CANCELLED: set(),
}

# A transfer in one of these holds units in the destination's `incoming`.
IN_TRANSIT_STATUSES = (TransferStatus.SHIPPED,)


class CycleCountStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    RECOUNT_REQUESTED = "recount_requested"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


CYCLE_COUNT_TRANSITIONS: dict[str, set[str]] = {
    CycleCountStatus.SCHEDULED: {CycleCountStatus.IN_PROGRESS, CycleCountStatus.CANCELLED},
    CycleCountStatus.IN_PROGRESS: {CycleCountStatus.SUBMITTED, CycleCountStatus.CANCELLED},
    # Submitting already posted what the count settles; ops accept it or ask for a recount.
    CycleCountStatus.SUBMITTED: {CycleCountStatus.ACCEPTED, CycleCountStatus.RECOUNT_REQUESTED},
    CycleCountStatus.RECOUNT_REQUESTED: {CycleCountStatus.IN_PROGRESS},
    CycleCountStatus.ACCEPTED: set(),
    CycleCountStatus.CANCELLED: set(),
}

# A count in one of these waits for the counter: the blind entry screen accepts input.
COUNTING_STATUSES = (CycleCountStatus.SCHEDULED, CycleCountStatus.IN_PROGRESS, CycleCountStatus.RECOUNT_REQUESTED)
