"""Celery tasks: thin, idempotent, taking ids. Safe to run twice or concurrently."""

from celery import shared_task
from django.conf import settings

from connectors import freshness, relay, sync
from integrations.models import ExternalSystem
from integrations.outbox import RELAY_TASK, relay_wake

# Far below the broker's visibility timeout, so a running task is never handed out twice.
_TIME_LIMIT = 600


@shared_task(name=RELAY_TASK, time_limit=_TIME_LIMIT)
def outbox_relay(system_id: int | None = None) -> dict:
    return relay.outbox_relay(system_id=system_id)


@shared_task(time_limit=60)
def outbox_relay_wake_due() -> int:
    """Beat: wake the relay of every system with messages due, on the system's queue."""
    return relay_wake(system_ids=[system.pk for system in relay.systems_due()])


@shared_task(time_limit=_TIME_LIMIT)
def availability_full_push(system_id: int) -> int:
    return sync.availability_full_push(system=ExternalSystem.objects.get(pk=system_id)).pk


@shared_task(time_limit=_TIME_LIMIT)
def snapshot_pull(system_id: int) -> int:
    return sync.snapshot_pull(system=ExternalSystem.objects.get(pk=system_id)).pk


@shared_task(time_limit=60)
def availability_full_push_all() -> int:
    ids = list(sync.full_push_systems().values_list("pk", flat=True))
    for system_id in ids:
        availability_full_push.apply_async((system_id,), queue=settings.INTEGRATIONS_QUEUE)
    return len(ids)


@shared_task(time_limit=60)
def snapshot_pull_all() -> int:
    ids = list(sync.snapshot_systems().values_list("pk", flat=True))
    for system_id in ids:
        snapshot_pull.apply_async((system_id,), queue=settings.INTEGRATIONS_QUEUE)
    return len(ids)


@shared_task(time_limit=60)
def sync_lag_check() -> int:
    return freshness.sync_lag_check().lagging
