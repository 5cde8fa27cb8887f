"""Reconciliation's factor in location confidence: a location whose snapshot lines
disagree with the ledger loses confidence (and its ship-from-store gate), through the
factor the reconciliation app registers with inventory."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.confidence.factors import FACTORS
from inventory.confidence.services import locations_score
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, Location, LocationConfidence
from reconciliation.models import ReconciliationRun
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

STORES = ("RC-A", "RC-B", "RC-C", "RC-D")
SKUS = [f"RC-{n:02d}" for n in range(25)]


@pytest.fixture
def stocked(db):
    stores = [LocationFactory(code=code, ship_from_store=True) for code in STORES]
    skus = [SkuFactory(code=code) for code in SKUS]
    at = timezone.now() - timedelta(days=3)
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, 10, reason="test_receipt", occurred_at=at)
                    for store in stores for sku in skus])
    return stores


def snapshot_run(reconcile, *, off_at: dict[str, int], days_ago: float = 1):
    """A snapshot of every store × SKU as of `days_ago`, `off_at[store]` of its lines 3 short."""
    lines = [(sku, store, 7 if index < off_at.get(store, 0) else 10)
             for store in STORES for index, sku in enumerate(SKUS)]
    return reconcile(lines, as_of=timezone.now() - timedelta(days=days_ago))


def confidence(code):
    return Location.objects.get(code=code).confidence


def test_the_factor_is_registered_by_the_reconciliation_app():
    assert "reconciliation_variance_rate" in [factor.name for factor in FACTORS]


def test_variance_in_reconciliation_lowers_the_locations_confidence(stocked, reconcile):
    run = snapshot_run(reconcile, off_at={"RC-A": 10})
    assert (run.status, run.variance) == ("review", 10)

    locations_score()

    assert confidence("RC-A") < Decimal("0.80") <= min(confidence(code) for code in STORES[1:])
    assert [confidence(code) for code in STORES[1:]] == [Decimal("1.000")] * 3
    factor = LocationConfidence.objects.get(location__code="RC-A").factors["reconciliation_variance_rate"]
    assert factor["scored"] and factor["value"] == pytest.approx(10 / 25) and factor["basis"] == 25
    assert factor["multiplier"] == pytest.approx(0.55)  # 3 z or more above an estate at 0: the whole weight


def test_runs_before_the_window_and_unfinished_runs_take_nothing_away(stocked, reconcile, settings):
    snapshot_run(reconcile, off_at={"RC-A": 10}, days_ago=settings.CONFIDENCE_WINDOW_DAYS + 2)
    locations_score()
    assert confidence("RC-A") == Decimal("1.000")
    # A run that failed (its accuracy never final) does not count either.
    recent = snapshot_run(reconcile, off_at={"RC-A": 10})
    ReconciliationRun.objects.filter(pk=recent.pk).update(status="failed")
    locations_score()
    assert confidence("RC-A") == Decimal("1.000")
    factor = LocationConfidence.objects.filter(location__code="RC-A").latest("pk").factors
    assert not factor["reconciliation_variance_rate"]["scored"]
