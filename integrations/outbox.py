"""Writing outbox messages: always inside the caller's transaction, never sending.

A message exists if and only if the change that caused it committed: it is an ordinary
row in the same transaction, so a rollback takes it away too. After commit the relay is
woken (`INTEGRATIONS_RELAY_ON_COMMIT`); beat runs it anyway, so a lost wake-up only
delays a message, never loses it.

This is the outbox's interface for the apps that write messages, below them all: it
imports no domain app. Its callers say what happened in their own terms — the ledger
which levels moved (`availability_changed`), orders what shipped (`order_shipped`),
adjustments and the like a business document for the ERP, or for one named system
(`document_enqueue`). The relay (`connectors.relay`) sends the messages.
"""

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.models import ExternalSystem, OutboxMessage

logger = logging.getLogger(__name__)

# The relay's Celery task, woken by name: it lives above this module.
RELAY_TASK = "connectors.tasks.outbox_relay"
# Kinds of system that sell stock and therefore hear about availability and orders.
CHANNEL_SYSTEM_KINDS = (ExternalSystem.Kind.WEB, ExternalSystem.Kind.MARKETPLACE)
# The most levels one availability message names (and one push carries), on change and in
# the periodic full push alike.
ITEMS_PER_PUSH = 500


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
    more when they are more than one push carries (ITEMS_PER_PUSH). Returns the number
    of messages written.

    The message says which levels to send, not what they hold: the relay reads their
    availability when it sends, so what a partner hears is the newest state there is,
    and an older message sent late cannot take a partner back. That keeps the posting's
    transaction to one small insert per system whatever the posting's size, and lets the
    relay push a posting's levels in one request. A message for a single level (a
    checkout hold, one movement) also carries a coalescing key, so of several pending
    messages for that level only the newest is sent."""
    keys = sorted(set(keys))
    if not keys:
        return 0
    systems = list(channel_systems().order_by("pk").values_list("pk", flat=True))
    if not systems:
        return 0
    now = timezone.now()
    messages = []
    for start in range(0, len(keys), ITEMS_PER_PUSH):
        chunk = keys[start:start + ITEMS_PER_PUSH]
        payload = {"levels": [list(key) for key in chunk]}
        messages += [
            OutboxMessage(system_id=system_id, topic=OutboxMessage.Topic.AVAILABILITY, payload=payload,
                          idempotency_key=new_idempotency_key(), next_attempt_at=now, created_at=now,
                          coalescing_key=coalescing_key(system_id, *chunk[0]) if len(chunk) == 1 else "")
            for system_id in systems
        ]
    return _write(messages)


def message_levels(message: OutboxMessage) -> list[tuple[int, int]]:
    """The (sku id, location id) levels an availability message is about."""
    return [tuple(key) for key in message.payload.get("levels", [])]


def order_shipped(*, order_id: int, external_id: str, channel_id: int, status: str,
                  shipped: list[tuple[str, str, int]]) -> int:
    """Tell the order's channel system what left, as (SKU code, location code, quantity)."""
    systems = list(_outbound_systems().filter(kind__in=CHANNEL_SYSTEM_KINDS, channel_id=channel_id))
    if not systems:
        return 0
    now = timezone.now()
    document = {
        "type": "shipment",
        "order": external_id,
        "order_id": order_id,
        "status": status,
        "lines": [{"sku": sku, "location": location, "quantity": quantity} for sku, location, quantity in shipped],
        "shipped_at": now.isoformat(),
    }
    return _write([
        OutboxMessage(system=system, topic=OutboxMessage.Topic.ORDER_UPDATE,
                      payload={"document_type": "shipment", "document": document},
                      idempotency_key=new_idempotency_key(), next_attempt_at=now, created_at=now)
        for system in systems
    ])


def document_enqueue(*, document_type: str, document: dict, system_kind: str = ExternalSystem.Kind.ERP,
                     system_id: int | None = None) -> list[OutboxMessage]:
    """Post a business document (an applied adjustment, a refund's credit note, a goods
    receipt, …) to every enabled system of `system_kind` with an HTTP adapter: the ERP by
    default; or, with `system_id`, to that one system (a stock correction after
    reconciliation, say) whatever its kind. Returns the messages written (one per system,
    none when no system takes documents), by which the document's delivery can be followed
    (`integrations.selectors.delivery_status`)."""
    systems = _outbound_systems()
    systems = systems.filter(pk=system_id) if system_id is not None else systems.filter(kind=system_kind)
    now = timezone.now()
    messages = [
        OutboxMessage(system=system, topic=OutboxMessage.Topic.DOCUMENT,
                      payload={"document_type": document_type, "document": document},
                      idempotency_key=new_idempotency_key(), next_attempt_at=now, created_at=now)
        for system in systems
    ]
    _write(messages)
    return messages


def _write(messages: list[OutboxMessage]) -> int:
    if not messages:
        return 0
    OutboxMessage.objects.bulk_create(messages, batch_size=1000)
    wake_relay_after_commit(system_ids={message.system_id for message in messages})
    return len(messages)


def relay_queue(system_code: str) -> str:
    """The broker queue of one system's relay work. Each system has its own, so a partner
    that answers slowly, or not at all, holds up its own queue and no other's."""
    return f"{settings.INTEGRATIONS_QUEUE}.{system_code}"


def wake_relay_after_commit(*, system_ids: Iterable[int]) -> None:
    if settings.INTEGRATIONS_RELAY_ON_COMMIT:
        system_ids = frozenset(system_ids)
        transaction.on_commit(partial(wake_relay, system_ids=system_ids), robust=True)


# At most one immediate wake-up per system, window and process, plus one trailing wake-up
# at the end of the window, so a burst of commits does not become a burst of tasks.
_WAKE_WINDOW_SECONDS = 0.25
_wake_lock = threading.Lock()
_windows: dict[int, tuple[float, bool]] = {}  # system id -> (window ends, trailing wake-up sent)


def wake_relay(*, system_ids: Iterable[int]) -> None:
    """Ask a worker to run the relay of these systems now, each on its own queue. Never
    raises: beat wakes every system with due messages anyway."""
    now = time.monotonic()
    countdowns: dict[int, float | None] = {}
    with _wake_lock:
        for system_id in system_ids:
            window_ends, trailing_sent = _windows.get(system_id, (0.0, False))
            if now >= window_ends:
                _windows[system_id] = (now + _WAKE_WINDOW_SECONDS, False)
                countdowns[system_id] = None
            elif not trailing_sent:
                _windows[system_id] = (window_ends, True)
                countdowns[system_id] = window_ends - now
    if countdowns:
        relay_wake(system_ids=list(countdowns), countdowns=countdowns)


def relay_wake(*, system_ids: Iterable[int], countdowns: dict[int, float | None] | None = None) -> int:
    """Send one relay task per system to the system's queue; returns how many went. Never
    raises: a message is in the outbox whether or not its wake-up reaches the broker."""
    # A system a relay holds needs no wake-up: the relay claims new messages as it goes,
    # and looks once more after letting go (connectors.relay), so it sees these.
    codes = dict(
        ExternalSystem.objects.filter(pk__in=list(system_ids))
        .filter(Q(relay_until__isnull=True) | Q(relay_until__lte=timezone.now()))
        .values_list("pk", "code")
    )
    sent = 0
    try:
        for system_id, code in sorted(codes.items()):
            countdown = (countdowns or {}).get(system_id)
            current_app.send_task(RELAY_TASK, kwargs={"system_id": system_id}, queue=relay_queue(code),
                                  countdown=countdown, retry=False)
            sent += 1
    except Exception:  # the broker is down: the outbox keeps the messages, beat wakes them
        logger.warning("Could not wake the outbox relay; beat will run it.", exc_info=True)
    return sent
