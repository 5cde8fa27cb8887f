"""Celery tasks of receiving: one line each, calling a service."""

from celery import shared_task

from receiving import services


@shared_task
def asns_overdue_detect() -> int:
    return services.asns_overdue_detect()
