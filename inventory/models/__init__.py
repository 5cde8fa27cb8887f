"""Inventory's data, one module per job; everything is importable from here."""

from inventory.models.adjustments import Adjustment, AdjustmentDecision, ApprovalPolicy, default_approval_threshold
from inventory.models.confidence import LevelConfidence, LocationConfidence
from inventory.models.counts import CycleCount, CycleCountLine
from inventory.models.ledger_checkpoint import LedgerClosingBalance, LedgerMonthChecksum
from inventory.models.master_data import (
    CODE_PATTERN,
    Channel,
    Location,
    LocationGroupObjectPermission,
    LocationUserObjectPermission,
    Sku,
    code_validator,
)
from inventory.models.stock import (
    FUTURE_TOLERANCE,
    Bucket,
    InventoryEvent,
    InventoryEventKey,
    StockLevel,
    StockMovement,
    available_units,
    occurred_since,
)
from inventory.models.transfers import Transfer, TransferLine

__all__ = [
    "CODE_PATTERN",
    "FUTURE_TOLERANCE",
    "Adjustment",
    "AdjustmentDecision",
    "ApprovalPolicy",
    "Bucket",
    "Channel",
    "CycleCount",
    "CycleCountLine",
    "InventoryEvent",
    "InventoryEventKey",
    "LedgerClosingBalance",
    "LedgerMonthChecksum",
    "LevelConfidence",
    "Location",
    "LocationConfidence",
    "LocationGroupObjectPermission",
    "LocationUserObjectPermission",
    "Sku",
    "StockLevel",
    "StockMovement",
    "Transfer",
    "TransferLine",
    "available_units",
    "code_validator",
    "default_approval_threshold",
    "occurred_since",
]
