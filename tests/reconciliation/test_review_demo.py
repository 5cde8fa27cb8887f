"""seed_demo leaves one reconciliation reviewed (closed, every variance line decided by the
demo inventory controller) and one in review, and adds nothing on a second run."""

import pytest
from django.core.management import call_command

from reconciliation.models import LineDecision, ReconciliationRun
from reconciliation.states import Classification, Decision, RunStatus

pytestmark = pytest.mark.django_db


def test_the_demo_has_one_reviewed_run_and_one_in_review(settings):
    settings.DEBUG = True
    call_command("seed_demo", stores=3, skus=20, verbosity=0)

    runs = {run.system.code: run for run in ReconciliationRun.objects.select_related("system")}
    assert runs["demo-wms"].status == RunStatus.CLOSED and runs["demo-wms"].closed_at is not None
    assert runs["demo-erp"].status == RunStatus.REVIEW
    reviewed = runs["demo-wms"].line_set.filter(classification=Classification.VARIANCE)
    assert reviewed.exists() and not reviewed.filter(decision=Decision.UNDECIDED).exists()
    assert {decision.actor.username for decision in LineDecision.objects.filter(line__run=runs["demo-wms"])} == {
        "control"}
    assert runs["demo-erp"].line_set.filter(classification=Classification.VARIANCE,
                                            decision=Decision.UNDECIDED).exists()
    assert runs["demo-erp"].line_set.filter(classification=Classification.MISSING_IN_LEDGER).count() == 1

    call_command("seed_demo", stores=3, skus=20, verbosity=0)
    assert ReconciliationRun.objects.count() == 2
