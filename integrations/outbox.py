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

from integrations import availability
from integrations.models import ExternalSystem, OutboxMessage
from inventory.ledger import uses_array_statements
from inventory.models import Location, Sku
from retailops.sql import execute

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
    """Tell every channel system that these (sku id, location id) levels changed: one
    message per system naming the levels (`{"levels": [[sku id, location id], …]}`), or
    more when they are more than one push carries (`availability.ITEMS_PER_PUSH`).
    Returns the number of messages written.

    The message says which levels to send, not what they hold: the relay reads their
    availability when it sends (`integrations.relay`), so what a partner hears is the
    newest state there is, and an older message sent late cannot take a partner back.
    That keeps the posting's transaction to one small insert per system whatever the
    posting's size — a thousand-event batch used to write, and read the levels for, two
    thousand rows here — and lets the relay push a posting's levels in one request. A
    message for a single level (a checkout hold, one movement) also carries a coalescing
    key, so of several pending messages for that level only the newest is sent.

    On PostgreSQL it is one fixed statement, systems included, and nothing is written
    when no system listens; elsewhere the ORM writes the same rows."""
    keys = sorted(set(keys))
    if not keys:
        return 0
    written = 0
    for start in range(0, len(keys), availability.ITEMS_PER_PUSH):  # one push per message
        chunk = keys[start:start + availability.ITEMS_PER_PUSH]
        payload = {"levels": [list(key) for key in chunk]}
        level = "{}:{}".format(*chunk[0]) if len(chunk) == 1 else ""
        if uses_array_statements():
            sql, systems_params = _insert_availability_statement()
            written += len(execute(sql, [json.dumps(payload, separators=(",", ":")), level, level,
                                         *_availability_defaults(), *systems_params]))
        else:
            now = timezone.now()
            written += _write([
                OutboxMessage(system_id=system_id, topic=OutboxMessage.Topic.AVAILABILITY, payload=payload,
                              idempotency_key=new_idempotency_key(), next_attempt_at=now, created_at=now,
                              coalescing_key=coalescing_key(system_id, *chunk[0]) if level else "")
                for system_id in channel_systems().order_by("pk").values_list("pk", flat=True)
            ], wake=False)
    if written:
        _wake_relay_after_commit()
    return written


def message_levels(message: OutboxMessage) -> list[tuple[int, int]]:
    """The (sku id, location id) levels an availability message is about."""
    return [tuple(key) for key in message.payload.get("levels", [])]


_PER_MESSAGE = ("system", "payload", "coalescing_key", "idempotency_key")


def _availability_defaults() -> list:
    """The values of the message's other columns: the topic, its times, and the model's
    defaults for the rest (the table has no defaults of its own)."""
    now = timezone.now()
    return [OutboxMessage.Topic.AVAILABILITY.value if name == "topic" else now if name in {"next_attempt_at",
            "created_at"} else OutboxMessage._meta.get_field(name).get_default() for name in _shared_columns()]


@cache
def _shared_columns() -> tuple[str, ...]:
    return tuple(field.name for field in OutboxMessage._meta.concrete_fields
                 if not (field.primary_key or field.null or field.name in _PER_MESSAGE))


@cache
def _insert_availability_statement() -> tuple[str, tuple]:
    """INSERT one message per system of `channel_systems()`, compiled once so that its
    filter stays in one place. Parameters: the payload, the level of a one-level message
    (or ''), twice, `_availability_defaults()`, then the returned filter parameters. The
    idempotency key is drawn by the server (`gen_random_uuid()`: the same 32 hex digits
    as `new_idempotency_key`)."""
    quote = connection.ops.quote_name
    systems_sql, systems_params = channel_systems().order_by().values_list("pk").query.sql_with_params()
    fields = [OutboxMessage._meta.get_field(name) for name in (*_PER_MESSAGE, *_shared_columns())]
    shared = ", ".join(f"%s::{field.db_type(connection)}" for field in fields[len(_PER_MESSAGE):])
    sql = (
        f"INSERT INTO {quote(OutboxMessage._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        "SELECT listening.id, %s::jsonb, "
        "CASE WHEN %s::text = '' THEN '' ELSE 'availability:' || listening.id || ':' || %s::text END, "
        f"replace(gen_random_uuid()::text, '-', ''), {shared} "
        f"FROM ({systems_sql}) AS listening(id) RETURNING 1"
    )
    return sql, systems_params


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


def _write(messages: list[OutboxMessage], *, wake: bool = True) -> int:
    if not messages:
        return 0
    OutboxMessage.objects.bulk_create(messages, batch_size=1000)
    if wake:
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
