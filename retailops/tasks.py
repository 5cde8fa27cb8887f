from celery import shared_task

from retailops import idempotency


@shared_task
def idempotency_purge_expired() -> int:
    return idempotency.idempotency_purge_expired()
