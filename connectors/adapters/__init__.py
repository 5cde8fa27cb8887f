"""Adapters: how RetailOps talks to one kind of external system.

`adapter_for(system)` picks the adapter named on the system. Every adapter implements
the `Adapter` protocol; one that cannot do something raises `NotSupported`.
`shared_adapter_for(system)` is the same adapter kept for the life of the worker process,
so its HTTP connections stay open between relay runs.
"""

import os
import threading

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
    "shared_adapter_for",
]

_ADAPTERS = {"json_http": JsonHttpAdapter, "csv_snapshot": CsvSnapshotAdapter}


def adapter_for(system) -> Adapter:
    """The adapter configured on `system`; NotSupported if it has none."""
    try:
        adapter_class = _ADAPTERS[system.adapter]
    except KeyError:
        raise NotSupported(f"{system.code} has no outbound adapter.") from None
    return adapter_class(system)


# Per process (a forked worker starts with none of its parent's connections) and system,
# with the configuration the adapter was built from: a changed system gets a new one.
_shared: dict[int, tuple[tuple, Adapter]] = {}
_shared_pid = os.getpid()
_shared_lock = threading.Lock()


def _configuration(system) -> tuple:
    return (system.adapter, system.base_url, system.credentials_ref, system.timeout_seconds,
            system.max_in_flight)


def shared_adapter_for(system) -> Adapter:
    """The process's adapter for `system`, built on first use and kept (with its open
    connections) while the system's configuration stays the same. Safe across threads."""
    global _shared_pid
    configuration = _configuration(system)
    with _shared_lock:
        if _shared_pid != os.getpid():
            _shared.clear()  # the parent's sockets are not ours to use
            _shared_pid = os.getpid()
        kept = _shared.get(system.pk)
        if kept is not None and kept[0] == configuration:
            return kept[1]
        adapter = adapter_for(system)
        _shared[system.pk] = (configuration, adapter)
    if kept is not None:
        kept[1].close()
    return adapter
