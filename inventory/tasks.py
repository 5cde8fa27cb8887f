"""Periodic work of the inventory app. Thin and safe to run twice."""

from celery import shared_task

from inventory import transfers


@shared_task
def transfers_overdue_detect() -> int:
    return transfers.transfers_overdue_detect()
