"""Writing outbox messages: always inside the caller's transaction, never sending.

A message exists if and only if the change that caused it committed: it is an ordinary
row in the same transaction, so a rollback takes it away too. After commit the relay is
woken (`INTEGRATIONS_RELAY_ON_COMMIT`); beat runs it anyway, so a lost wake-up only
delays a message, never loses it.

Callers: the ledger's `levels_changed` signal (availability), `orders.services.order_ship`
(order update to the order's channel system) and `document_enqueue` for ERP postings
(adjustments, refunds, …).
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from integrations.availability import _COLUMNS as LEVEL_COLUMNS
from integrations.availability import availability_item, levels_for_keys
from integrations.models import ExternalSystem, OutboxMessage
from inventory.ledger import uses_array_statements
from inventory.models import Channel, Location, Sku, StockLevel
from retailops.sql import execute, from_row

logger = logging.getLogger(__name__)

# Kinds of system that sell stock and therefore hear about availability and orders.
CHANNEL_SYSTEM_KINDS = (ExternalSystem.Kind.WEB, ExternalSystem.Kind.MARKETPLACE)


def _outbound_systems():
    return ExternalSystem.objects.filter(enabled=True, adapter=ExternalSystem.Adapter.JSON_HTTP)


def channel_systems():
    """The systems that receive availability: enabled channel systems with an HTTP adapter."""
    return _outbound_systems().filter(kind__in=CHANNEL_SYSTEM_KINDS).select_related("channel")


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def coalescing_key(system_id: int, sku_id: int, location_id: int) -> str:
    return f"availability:{system_id}:{sku_id}:{location_id}"


def availability_changed(*, keys: Iterable[tuple[int, int]]) -> int:
    """One availability message per channel system and changed (sku, location). Returns
    the number written. Costs one query when no system listens, three when some do.

    A posting of 1,000 events changes about as many levels, so with two channel systems
    this writes some 2,000 rows inside the posting's transaction: on PostgreSQL they go in
    as one set-based INSERT (see `_insert_availability`); elsewhere the ORM writes the
    same rows. A checkout hold changes one level: its reads are fixed SQL, not querysets
    compiled per call (`retailops.sql`)."""
    systems = _listening_systems()
    if not systems:
        return 0
    array_statements = uses_array_statements()
    rows = _levels_by_exact_keys(keys) if array_statements else levels_for_keys(keys)
    if not rows:
        return 0
    now = timezone.now()
    changed_at = now.isoformat()
    messages = [
        (system_id, coalescing_key(system_id, row["sku_id"], row["location_id"]),
         availability_item(row, channel=channel) | {"changed_at": changed_at})
        for system_id, channel in systems
        for row in rows
    ]
    if array_statements:
        _insert_availability(messages, now=now)
        _wake_relay_after_commit()
        return len(messages)
    return _write([
        OutboxMessage(system_id=system_id, topic=OutboxMessage.Topic.AVAILABILITY, payload=payload,
                      idempotency_key=new_idempotency_key(), coalescing_key=key, next_attempt_at=now, created_at=now)
        for system_id, key, payload in messages
    ])


@cache
def _listening_systems_statement() -> tuple[str, tuple]:
    """`channel_systems()` compiled once (its filter stays in one place), selecting each
    system's id and its channel's columns."""
    channel_fields = [f"channel__{field.attname}" for field in Channel._meta.concrete_fields]
    return channel_systems().order_by("pk").values_list("pk", *channel_fields).query.sql_with_params()


def _listening_systems() -> list[tuple[int, Channel | None]]:
    """`channel_systems()` as (system id, its channel or None), run as fixed SQL."""
    sql, params = _listening_systems_statement()
    return [(row[0], from_row(Channel, row[1:]) if row[1] is not None else None) for row in execute(sql, list(params))]


@cache
def _levels_by_exact_keys_sql() -> str:
    prefixes = {"sku__": "s.", "location__": "loc."}
    columns = [next((alias + name.removeprefix(prefix) for prefix, alias in prefixes.items()
                     if name.startswith(prefix)), f"l.{name}") for name in LEVEL_COLUMNS]
    return (
        f"SELECT {', '.join(columns)} "  # noqa: S608 (no user input)
        "FROM unnest(%s::bigint[], %s::bigint[]) AS k(sku_id, location_id) "
        f"JOIN {StockLevel._meta.db_table} l ON l.sku_id = k.sku_id AND l.location_id = k.location_id "
        f"JOIN {Sku._meta.db_table} s ON s.id = l.sku_id JOIN {Location._meta.db_table} loc ON loc.id = l.location_id"
    )


def _levels_by_exact_keys(keys: Iterable[tuple[int, int]]) -> list[dict]:
    """`levels_for_keys` for PostgreSQL: the rows of exactly these keys, matched against
    two arrays, rather than every level of the keys' SKUs at the keys' locations."""
    keys = sorted(set(keys))
    if not keys:
        return []
    rows = execute(_levels_by_exact_keys_sql(), [[sku for sku, _ in keys], [location for _, location in keys]])
    return [dict(zip(LEVEL_COLUMNS, row, strict=True)) for row in rows]


def _insert_availability(messages: list[tuple[int, str, dict]], *, now) -> None:
    """Insert (system id, coalescing key, payload) messages in one statement (PostgreSQL).

    Encoding a thousand messages one value at a time, as the ORM or even per-column arrays
    do, costs more than the database's own work, so they travel as one JSON document that
    the server unpacks; what is the same for every message is sent once. The idempotency
    key is drawn by the server (`gen_random_uuid()` is a version 4 UUID: the same 32 hex
    digits as `new_idempotency_key`)."""
    quote = connection.ops.quote_name
    per_message = {
        "system": "(message->>0)::bigint",
        "coalescing_key": "message->>1",
        "payload": "message->2",
        "idempotency_key": "replace(gen_random_uuid()::text, '-', '')",
    }
    shared = {"topic": OutboxMessage.Topic.AVAILABILITY.value, "next_attempt_at": now, "created_at": now}
    for field in OutboxMessage._meta.concrete_fields:  # the rest at their model defaults; the table has none
        if not (field.primary_key or field.null or field.name in per_message or field.name in shared):
            shared[field.name] = field.get_default()
    fields = [OutboxMessage._meta.get_field(name) for name in [*per_message, *shared]]
    table = quote(OutboxMessage._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join([*per_message.values(),
                        *(f"%b::{field.db_type(connection)}" for field in fields[len(per_message):])])
    sql = f"INSERT INTO {table} ({columns}) SELECT {values} FROM jsonb_array_elements(%b::jsonb) AS message"  # noqa: S608
    execute(sql, [*shared.values(), json.dumps(messages, separators=(",", ":"))], prepare=False)


def order_shipped(*, order_id: int, external_id: str, channel_id: int, status: str,
                  shipped: list[tuple[int, int, int]]) -> int:
    """Tell the order's channel system what left, as (sku id, location id, quantity)."""
    systems = list(_outbound_systems().filter(kind__in=CHANNEL_SYSTEM_KINDS, channel_id=channel_id))
    if not systems:
        return 0
    skus = dict(Sku.objects.filter(pk__in={sku for sku, _, _ in shipped}).values_list("pk", "code"))
    locations = dict(Location.objects.filter(pk__in={loc for _, loc, _ in shipped}).values_list("pk", "code"))
    now = timezone.now()
    document = {
        "type": "shipment",
        "order": external_id,
        "order_id": order_id,
        "status": status,
        "lines": [{"sku": skus[sku], "location": locations[location], "quantity": quantity}
                  for sku, location, quantity in shipped],
        "shipped_at": now.isoformat(),
    }
    return _write([
        OutboxMessage(system=system, topic=OutboxMessage.Topic.ORDER_UPDATE,
                      payload={"document_type": "shipment", "document": document},
                      idempotency_key=new_idempotency_key(), next_attempt_at=now, created_at=now)
        for system in systems
    ])


def document_enqueue(*, document_type: str, document: dict, system_kind: str = ExternalSystem.Kind.ERP) -> int:
    """Post a business document (an applied adjustment, a refund, …) to every enabled
    system of `system_kind` with an HTTP adapter: the ERP by default."""
    systems = list(_outbound_systems().filter(kind=system_kind))
    now = timezone.now()
    return _write([
        OutboxMessage(system=system, topic=OutboxMessage.Topic.DOCUMENT,
                      payload={"document_type": document_type, "document": document},
                      idempotency_key=new_idempotency_key(), next_attempt_at=now, created_at=now)
        for system in systems
    ])


def _write(messages: list[OutboxMessage]) -> int:
    if not messages:
        return 0
    OutboxMessage.objects.bulk_create(messages, batch_size=1000)
    _wake_relay_after_commit()
    return len(messages)


def _wake_relay_after_commit() -> None:
    if settings.INTEGRATIONS_RELAY_ON_COMMIT:
        transaction.on_commit(wake_relay, robust=True)


# At most one immediate wake-up per window and process, plus one trailing wake-up at the
# end of the window, so a burst of commits does not become a burst of tasks.
_WAKE_WINDOW_SECONDS = 0.25
_wake_lock = threading.Lock()
_window_ends = 0.0
_trailing_sent = False


def wake_relay() -> None:
    """Ask a worker to run the relay now. Never raises: beat runs it anyway."""
    global _window_ends, _trailing_sent
    now = time.monotonic()
    with _wake_lock:
        if now >= _window_ends:
            _window_ends, _trailing_sent, countdown = now + _WAKE_WINDOW_SECONDS, False, None
        elif not _trailing_sent:
            _trailing_sent, countdown = True, _window_ends - now
        else:
            return
    try:
        from integrations.tasks import outbox_relay

        outbox_relay.apply_async(queue=settings.INTEGRATIONS_QUEUE, countdown=countdown, retry=False)
    except Exception:  # the broker is down: the outbox keeps the message, beat will relay it
        logger.warning("Could not wake the outbox relay; beat will run it.", exc_info=True)
