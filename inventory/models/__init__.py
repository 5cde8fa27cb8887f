"""Inventory's data, one module per job; everything is importable from here."""

from inventory.models.adjustments import Adjustment, AdjustmentDecision, ApprovalPolicy, default_approval_threshold
from inventory.models.confidence import LevelConfidence, LocationConfidence
from inventory.models.counts import CycleCount, CycleCountLine
from inventory.models.master_data import (
    CODE_PATTERN,
    Channel,
    Location,
    LocationGroupObjectPermission,
    LocationUserObjectPermission,
    Sku,
    code_validator,
)
from inventory.models.stock import Bucket, InventoryEvent, StockLevel, StockMovement, available_units
from inventory.models.transfers import Transfer, TransferLine

__all__ = [
    "CODE_PATTERN",
    "Adjustment",
    "AdjustmentDecision",
    "ApprovalPolicy",
    "Bucket",
    "Channel",
    "CycleCount",
    "CycleCountLine",
    "InventoryEvent",
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
]
