"""Case kinds, queues and the case lifecycle."""

from django.db import models


class CaseKind(models.TextChoices):
    """What went wrong. The code is the API's (API.md "Cases"); the label is what screens show."""

    NEGATIVE_ON_HAND = "negative_on_hand", "Negative on-hand"
    DUPLICATE_CONFLICT = "duplicate_conflict", "Duplicate event conflict"
    STALE_EVENT = "stale_event", "Stale event"
    REJECTED_EVENT = "rejected_event", "Rejected event"
    SYNC_FAILED = "sync_failed", "Sync failed"
    DEAD_LETTER = "dead_letter", "Dead letter"
    SYNC_LAGGING = "sync_lagging", "Sync lagging (partners see stale availability)"
    RECONCILIATION_VARIANCE = "reconciliation_variance", "Reconciliation variance"
    TRANSFER_VARIANCE = "transfer_variance", "Transfer variance or delay"
    RECEIPT_VARIANCE = "receipt_variance", "Supplier receipt variance or delay"
    RESERVATION_FAILURE = "reservation_failure", "Reservation failure"
    PICKUP_OVERDUE = "pickup_overdue", "Pickup overdue"
    RETURN_UNRECONCILED = "return_unreconciled", "Unreconciled return"
    ANOMALY = "anomaly", "Anomaly"
    LEDGER_DRIFT = "ledger_drift", "Ledger drift"
    STALE_LEVEL = "stale_level", "Stale level (no recent count)"


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


class RootCause(models.TextChoices):
    """Why a case happened: required to resolve one, and what the KPIs group by."""

    UNRECORDED_RECEIPT = "unrecorded_receipt", "Unrecorded receipt"
    UNRECORDED_SALE = "unrecorded_sale", "Unrecorded sale or transfer"
    MISCOUNT = "miscount", "Miscount"
    SHRINK = "shrink", "Shrink or theft"
    DAMAGE = "damage", "Damage not recorded"
    DATA_ENTRY = "data_entry", "Data entry error"
    MASTER_DATA = "master_data", "Master data missing or wrong"
    PARTNER_ERROR = "partner_error", "Partner system error"
    SYNC_DELAY = "sync_delay", "Sync delay (timing)"
    PROCESS_GAP = "process_gap", "Process not followed"
    SYSTEM_DEFECT = "system_defect", "System defect"
    OTHER = "other", "Other"
    # Set only by detectors, when the condition behind a case went away by itself.
    CONDITION_CLEARED = "condition_cleared", "Condition cleared (system)"
    # Set only by a submitted cycle count that settled the level the case is about.
    RECOUNTED = "recounted", "Recounted (system)"


# Root causes a person may pick; CONDITION_CLEARED and RECOUNTED are the system's.
SYSTEM_ROOT_CAUSES = {RootCause.CONDITION_CLEARED, RootCause.RECOUNTED}
PERSON_ROOT_CAUSES = [choice for choice in RootCause.choices if choice[0] not in SYSTEM_ROOT_CAUSES]
