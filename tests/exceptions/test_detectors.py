"""Scheduled detectors: set-based, safe to run twice; which kinds close by themselves."""

from datetime import timedelta

import pytest
from django.utils import timezone

from casework import detectors, tasks
from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, RootCause
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, StockLevel, StockMovement
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def level_key():
    return SkuFactory(code="D1").pk, LocationFactory(code="S1").pk


def post(key, delta, reason="sale", occurred_at=None):
    post_movements([Movement(key[0], key[1], Bucket.ON_HAND, delta, reason=reason, occurred_at=occurred_at)])


def test_negative_on_hand_auto_resolves_once_on_hand_is_back(level_key):
    post(level_key, -3)
    case = Case.objects.get(kind=CaseKind.NEGATIVE_ON_HAND)
    assert detectors.negative_on_hand_resolve_cleared() == 0  # still negative

    post(level_key, 5, reason="receipt")
    assert tasks.negative_on_hand_resolve_cleared() == 1
    assert tasks.negative_on_hand_resolve_cleared() == 0  # idempotent
    case.refresh_from_db()
    assert (case.status, case.root_cause, case.resolved_by) == (CaseStatus.RESOLVED, RootCause.CONDITION_CLEARED,
                                                                None)
    assert case.history.latest().history_change_reason.startswith("condition cleared")


def test_sla_breach_escalates_once_and_ranks_first():
    late = CaseFactory(overdue=True)
    on_time = CaseFactory()
    assert tasks.sla_breaches_escalate() == 1
    assert tasks.sla_breaches_escalate() == 0
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert late.escalated and not on_time.escalated
    assert late.priority_factors["urgency"] == "3.0"
    assert late.history.latest().history_change_reason == "escalated: SLA breached"


def test_ledger_drift_raises_nightly_and_a_vanished_drift_waits_for_a_person(level_key):
    post(level_key, 10, reason="receipt")
    StockLevel.objects.filter(sku_id=level_key[0]).update(on_hand=7)  # a write that bypassed the ledger
    run = detectors.ledger_drift_detect()
    assert run.drifts == 1
    assert tasks.ledger_drift_detect() == 1
    case = Case.objects.get(kind=CaseKind.LEDGER_DRIFT)
    assert case.occurrences == 2

    StockLevel.objects.filter(sku_id=level_key[0]).update(on_hand=10)
    assert detectors.ledger_drift_detect().cleared == 1
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.condition_cleared_at is not None


def test_a_level_that_sells_without_a_count_gets_a_stale_level_case_until_counted(level_key):
    long_ago = timezone.now() - timedelta(days=40)
    post(level_key, 20, reason="receipt", occurred_at=long_ago)
    post(level_key, -2)
    assert detectors.stale_levels_detect(days=30).raised == 1
    assert detectors.stale_levels_detect(days=30).raised == 1  # bumps, never a second case
    case = Case.objects.get(kind=CaseKind.STALE_LEVEL)
    assert case.occurrences == 2 and case.location_id == level_key[1]

    StockLevel.objects.filter(sku_id=level_key[0]).update(last_counted_at=timezone.now())
    assert detectors.stale_levels_detect(days=30).resolved == 1
    case.refresh_from_db()
    assert (case.status, case.root_cause) == (CaseStatus.RESOLVED, RootCause.CONDITION_CLEARED)
    assert StockMovement.objects.count() == 2
