"""Case kinds, queues and the case lifecycle."""

from django.db import models


class CaseKind(models.TextChoices):
    NEGATIVE_ON_HAND = "negative_on_hand"
    DUPLICATE_CONFLICT = "duplicate_conflict"
    STALE_EVENT = "stale_event"
    REJECTED_EVENT = "rejected_event"
    SYNC_FAILED = "sync_failed"
    DEAD_LETTER = "dead_letter"
    RECONCILIATION_VARIANCE = "reconciliation_variance"
    TRANSFER_VARIANCE = "transfer_variance"
    RESERVATION_FAILURE = "reservation_failure"
    PICKUP_OVERDUE = "pickup_overdue"
    RETURN_UNRECONCILED = "return_unreconciled"
    ANOMALY = "anomaly"
    LEDGER_DRIFT = "ledger_drift"


class Queue(models.TextChoices):
    INVENTORY_CONTROL = "inventory_control", "Inventory control"
    STORE_OPS = "store_ops", "Store operations"
    FINANCE = "finance", "Finance"
    INTEGRATION = "integration", "Integration"


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CaseStatus(models.TextChoices):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


# A case in one of these is still being worked: a repeated detection bumps it.
ACTIVE_STATUSES = (CaseStatus.OPEN, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS)

TRANSITIONS: dict[str, set[str]] = {
    CaseStatus.OPEN: {CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED, CaseStatus.DISMISSED},
    CaseStatus.ASSIGNED: {CaseStatus.OPEN, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS, CaseStatus.RESOLVED,
                          CaseStatus.DISMISSED},
    CaseStatus.IN_PROGRESS: {CaseStatus.ASSIGNED, CaseStatus.RESOLVED, CaseStatus.DISMISSED},
    CaseStatus.RESOLVED: set(),
    CaseStatus.DISMISSED: set(),
}
