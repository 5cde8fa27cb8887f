"""Periodic work of the orders app (CELERY_BEAT_SCHEDULE runs both every minute).
Thin and safe to run twice: each finds its own work in the database."""

from celery import shared_task

from orders import services


@shared_task
def reservations_expire() -> int:
    return services.reservations_expire_due()


@shared_task
def pickups_overdue_detect() -> int:
    return services.pickups_overdue_detect()
