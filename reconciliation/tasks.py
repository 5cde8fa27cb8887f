"""Celery tasks: thin, idempotent, taking ids."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from reconciliation import services


@shared_task(name=services.RECONCILE_TASK, time_limit=1800)
def reconcile(run_id: int) -> str:
    """Reconcile a queued run; a run no longer queued is left as it is."""
    return services.run_execute(run_id=run_id).status


@shared_task(name="reconciliation.tasks.runs_stale_check")
def runs_stale_check() -> int:
    """Fail the runs a stopped worker left running (they can then be retried)."""
    return services.runs_stale_fail(older_than=timedelta(minutes=settings.RECONCILE_STALE_MINUTES))
