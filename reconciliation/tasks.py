"""Celery tasks: thin, idempotent, taking ids."""

from celery import shared_task

from reconciliation import services


@shared_task(name=services.RECONCILE_TASK, time_limit=1800)
def reconcile(run_id: int) -> str:
    """Reconcile a queued run; a run no longer queued is left as it is."""
    return services.run_execute(run_id=run_id).status
