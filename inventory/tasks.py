"""Periodic work of the inventory app. Thin and safe to run twice."""

from celery import shared_task

from inventory import transfers
from inventory.confidence.services import locations_score as score_every_location


@shared_task
def transfers_overdue_detect() -> int:
    return transfers.transfers_overdue_detect()


@shared_task
def locations_score() -> int:
    """The nightly confidence scoring of every location."""
    return score_every_location().scored
