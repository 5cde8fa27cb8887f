"""Adapters: how RetailOps talks to one kind of external system.

`adapter_for(system)` picks the adapter named on the system. Every adapter implements
the `Adapter` protocol; one that cannot do something raises `NotSupported`.
"""

from connectors.adapters.base import (
    Adapter,
    Delivery,
    DeliveryFailed,
    NotSupported,
    Snapshot,
    SnapshotLine,
    Throttled,
)
from connectors.adapters.csv_snapshot import CsvSnapshotAdapter, parse_snapshot_csv
from connectors.adapters.json_http import JsonHttpAdapter

__all__ = [
    "Adapter",
    "CsvSnapshotAdapter",
    "Delivery",
    "DeliveryFailed",
    "JsonHttpAdapter",
    "NotSupported",
    "Snapshot",
    "SnapshotLine",
    "Throttled",
    "adapter_for",
    "parse_snapshot_csv",
]

_ADAPTERS = {"json_http": JsonHttpAdapter, "csv_snapshot": CsvSnapshotAdapter}


def adapter_for(system) -> Adapter:
    """The adapter configured on `system`; NotSupported if it has none."""
    try:
        adapter_class = _ADAPTERS[system.adapter]
    except KeyError:
        raise NotSupported(f"{system.code} has no outbound adapter.") from None
    return adapter_class(system)
