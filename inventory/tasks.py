"""Periodic work of the inventory app. Thin and safe to run twice."""

from celery import shared_task

from inventory import transfers
from inventory.confidence.services import locations_score as score_every_location
from inventory.ledger.partitions import partitions_maintain


@shared_task
def transfers_overdue_detect() -> int:
    return transfers.transfers_overdue_detect()


@shared_task
def locations_score() -> int:
    """The nightly confidence scoring of every location."""
    return score_every_location().scored


@shared_task
def ledger_partitions_maintain() -> None:
    """The daily upkeep of the partitioned ledger: months ahead ready, old ones archived."""
    partitions_maintain()
