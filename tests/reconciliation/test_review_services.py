"""Deciding variance lines: accept (an adjustment through the approval policy), keep (a
stock correction to the partner through the outbox), dismiss (with a reason), escalate (one
case per SKU × location); one line or many; the run closes when every variance line is
decided."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.states import CaseKind
from integrations.models import OutboxMessage
from inventory.adjustments import adjustment_approve
from inventory.errors import SelfApproval
from inventory.models import Adjustment, StockLevel
from inventory.states import AdjustmentStatus
from reconciliation import review
from reconciliation.models import LineDecision
from reconciliation.states import Decision, RunStatus
from retailops.access import LocationScope
from retailops.errors import InvalidInput, InvalidState, NotFound
from retailops.roles import Role
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.reconciliation.factories import (
    ExternalSystemFactory,
    LineFactory,
    RunFactory,
    VarianceLineFactory,
    stock_at,
)

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)


def person(role, username, locations=()):
    return staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)


@pytest.fixture
def finance():
    return person(Role.FINANCE, "fin-one")


@pytest.fixture
def store():
    return LocationFactory(code="S1")


@pytest.fixture
def run():
    return RunFactory(as_of=timezone.now() - timedelta(hours=2))


def on_hand(sku, location) -> int:
    return StockLevel.objects.get(sku=sku, location=location).on_hand


def variance(run, *, sku, location, ledger_then=10, snapshot=7, **extra):
    """A variance line whose ledger figure is really in the ledger as of the run's time."""
    stock_at(sku, location, ledger_then, occurred_at=run.as_of - timedelta(days=1))
    return VarianceLineFactory(run=run, sku=sku, location=location, ledger_on_hand_at_as_of=ledger_then,
                               snapshot_on_hand=snapshot, **extra)


# --- Accept --------------------------------------------------------------------------------------


def test_accepting_a_small_variance_applies_an_adjustment_at_once(run, store, finance):
    line = variance(run, sku=SkuFactory(code="CHEAP"), location=store)

    outcome = review.lines_accept(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    adjustment = outcome.decisions[0].adjustment
    assert (adjustment.delta, adjustment.reason, adjustment.status) == (-3, "reconciliation", AdjustmentStatus.APPLIED)
    assert adjustment.requested_by == finance
    assert on_hand(line.sku, store) == 7
    line.refresh_from_db()
    assert (line.decision, line.decided_by) == (Decision.ACCEPTED, finance)
    assert LineDecision.objects.get(line=line).adjustment == adjustment


def test_accepting_keeps_what_moved_since_the_snapshot(run, store, finance):
    """delta = snapshot − ledger as of T, applied to the level now: a sale after T stays."""
    sku = SkuFactory(code="MOVED")
    line = variance(run, sku=sku, location=store, ledger_then=10, snapshot=7)
    stock_at(sku, store, -2, occurred_at=run.as_of + timedelta(minutes=30), reason="sale")

    review.lines_accept(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    assert on_hand(sku, store) == 5  # 7 as the partner said, minus the 2 sold since


def test_a_fact_that_arrived_since_the_run_is_not_counted_twice(run, store, finance):
    """A sale that happened before T but reached the ledger after the run already closed
    the gap: the ledger as of T is re-derived now, and there is nothing left to adjust."""
    sku = SkuFactory(code="LATE")
    line = variance(run, sku=sku, location=store, ledger_then=10, snapshot=7)
    stock_at(sku, store, -3, occurred_at=run.as_of - timedelta(minutes=10), reason="sale")

    with pytest.raises(review.NothingToAdjust):
        review.lines_accept(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    assert not Adjustment.objects.exists()
    line.refresh_from_db()
    assert line.decision == Decision.UNDECIDED


def test_a_valuable_variance_waits_for_finance_and_its_accepter_cannot_approve_it(run, store, finance):
    sku = SkuFactory(code="DEAR", unit_cost=Decimal("400.00"))
    line = variance(run, sku=sku, location=store, ledger_then=10, snapshot=4)  # 6 × 400 = 2,400

    outcome = review.lines_accept(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    adjustment = outcome.decisions[0].adjustment
    assert adjustment.status == AdjustmentStatus.PENDING_APPROVAL
    assert outcome.pending_approval == outcome.decisions
    assert on_hand(sku, store) == 10
    with pytest.raises(SelfApproval):
        adjustment_approve(adjustment=adjustment, approver=finance)
    adjustment_approve(adjustment=adjustment, approver=person(Role.FINANCE, "fin-two"))
    assert on_hand(sku, store) == 4


# --- Keep, dismiss, escalate ------------------------------------------------------------------------


def test_keeping_the_ledger_sends_a_stock_correction_to_the_partner(run, store, finance):
    sku = SkuFactory(code="KEEP")
    line = variance(run, sku=sku, location=store, ledger_then=10, snapshot=7)
    stock_at(sku, store, -1, occurred_at=run.as_of + timedelta(minutes=5), reason="sale")

    outcome = review.lines_keep(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE,
                                reason="The WMS missed a receipt")

    message = OutboxMessage.objects.get()
    assert outcome.decisions[0].outbox_message == message
    assert (message.system, message.topic) == (run.system, OutboxMessage.Topic.DOCUMENT)
    assert message.payload["document_type"] == "stock_correction"
    document = message.payload["document"]
    assert (document["sku"], document["location"], document["on_hand"]) == ("KEEP", "S1", 9)
    assert document["reconciliation"] == run.pk
    assert on_hand(sku, store) == 9  # the ledger is unchanged
    assert outcome.decisions[0].reason == "The WMS missed a receipt"


def test_keeping_against_a_system_that_takes_no_documents_says_so(store, finance):
    run = RunFactory(snapshot__system=ExternalSystemFactory(code="inbound", inbound_only=True))
    line = variance(run, sku=SkuFactory(code="IN"), location=store)

    outcome = review.lines_keep(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    assert not OutboxMessage.objects.exists()
    assert outcome.decisions[0].reason == "not sent: inbound takes no documents"
    line.refresh_from_db()
    assert line.decision == Decision.KEPT


@pytest.mark.parametrize("reason", ["", "   "])
def test_dismissing_needs_a_reason(run, store, finance, reason):
    line = variance(run, sku=SkuFactory(code="DIS"), location=store)

    with pytest.raises(InvalidInput) as error:
        review.lines_dismiss(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE, reason=reason)

    assert error.value.code == "required"
    assert not LineDecision.objects.exists()


def test_dismissing_records_who_and_why(run, store, finance):
    line = variance(run, sku=SkuFactory(code="DIS"), location=store)

    review.lines_dismiss(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE,
                         reason="  Counted in transit  ")

    decision = LineDecision.objects.get(line=line)
    assert (decision.action, decision.actor, decision.reason) == (Decision.DISMISSED, finance, "Counted in transit")
    assert not Adjustment.objects.exists() and not OutboxMessage.objects.exists()


def test_one_case_per_sku_and_location_across_runs(store, finance):
    sku, other = SkuFactory(code="ESC"), SkuFactory(code="ESC-2")
    first, second = RunFactory(), RunFactory()
    line_a = VarianceLineFactory(run=first, sku=sku, location=store)
    line_b = VarianceLineFactory(run=second, sku=sku, location=store)
    line_c = VarianceLineFactory(run=second, sku=other, location=store)

    review.lines_escalate(run_id=first.pk, line_ids=[line_a.pk], actor=finance, scope=EVERYWHERE)
    review.lines_escalate(run_id=second.pk, line_ids=[line_b.pk, line_c.pk], actor=finance, scope=EVERYWHERE)

    assert Case.objects.filter(kind=CaseKind.RECONCILIATION_VARIANCE).count() == 2
    case = Case.objects.get(sku=sku, location=store)
    assert case.occurrences == 2
    assert {decision.case for decision in LineDecision.objects.filter(line__in=[line_a, line_b])} == {case}
    line_a.refresh_from_db()
    assert line_a.decision == Decision.ESCALATED


def test_an_escalated_line_may_still_be_decided_once_the_case_is_worked(run, store, finance):
    line = variance(run, sku=SkuFactory(code="LATER"), location=store)
    VarianceLineFactory(run=run)  # keeps the run open
    review.lines_escalate(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    review.lines_accept(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)

    assert list(LineDecision.objects.filter(line=line).values_list("action", flat=True)) == [
        Decision.ESCALATED, Decision.ACCEPTED]


# --- Bulk, states, closing ----------------------------------------------------------------------------


def test_bulk_accept_routes_each_line_through_the_policy(run, store, finance):
    cheap = variance(run, sku=SkuFactory(code="B-CHEAP"), location=store)
    dear = variance(run, sku=SkuFactory(code="B-DEAR", unit_cost=Decimal("500.00")), location=store)

    outcome = review.lines_accept(run_id=run.pk, line_ids=[dear.pk, cheap.pk], actor=finance, scope=EVERYWHERE)

    statuses = {decision.line_id: decision.adjustment.status for decision in outcome.decisions}
    assert statuses == {cheap.pk: AdjustmentStatus.APPLIED, dear.pk: AdjustmentStatus.PENDING_APPROVAL}


def test_a_bulk_action_is_all_or_nothing(run, store, finance):
    undecided = variance(run, sku=SkuFactory(code="U"), location=store)
    matched = LineFactory(run=run, location=store)

    with pytest.raises(InvalidState) as error:
        review.lines_dismiss(run_id=run.pk, line_ids=[undecided.pk, matched.pk], actor=finance, scope=EVERYWHERE,
                             reason="noise")

    assert "not a variance" in error.value.detail
    assert not LineDecision.objects.exists()


def test_a_decided_line_cannot_be_decided_again(run, store, finance):
    line = variance(run, sku=SkuFactory(code="TWICE"), location=store)
    VarianceLineFactory(run=run)
    review.lines_dismiss(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE, reason="noise")

    with pytest.raises(InvalidState, match="already dismissed"):
        review.lines_accept(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE)


def test_the_run_closes_when_every_variance_line_is_decided(run, store, finance):
    first = variance(run, sku=SkuFactory(code="C1"), location=store)
    second = variance(run, sku=SkuFactory(code="C2"), location=store)
    LineFactory(run=run, location=store)  # matched lines need no one

    assert not review.lines_dismiss(run_id=run.pk, line_ids=[first.pk], actor=finance, scope=EVERYWHERE,
                                    reason="noise").run_closed
    run.refresh_from_db()
    assert (run.status, run.closed_at) == (RunStatus.REVIEW, None)

    assert review.lines_escalate(run_id=run.pk, line_ids=[second.pk], actor=finance, scope=EVERYWHERE).run_closed
    run.refresh_from_db()
    assert run.status == RunStatus.CLOSED and run.closed_at is not None
    closing = run.history.first()
    assert closing.history_user == finance
    assert closing.history_change_reason == ("every variance line decided (last: 1 escalated to a case) "
                                             "(review → closed)")


def test_runs_change_status_only_as_the_transition_table_allows(finance):
    """One path for every status change (the worker's and the reviewers'): a move the table
    does not list is refused and nothing is saved."""
    from reconciliation.transitions import run_transition

    run = RunFactory(closed=True)
    with pytest.raises(InvalidState):
        run_transition(run, RunStatus.REVIEW, actor=finance, reason="reopen")
    run.refresh_from_db()
    assert run.status == RunStatus.CLOSED and run.history.count() == 1


def test_a_closed_run_takes_no_more_decisions(store, finance):
    run = RunFactory(closed=True)
    line = VarianceLineFactory(run=run, location=store)

    with pytest.raises(InvalidState, match="not in review"):
        review.lines_dismiss(run_id=run.pk, line_ids=[line.pk], actor=finance, scope=EVERYWHERE, reason="late")


def test_a_line_of_another_run_is_not_found(run, store, finance):
    elsewhere = VarianceLineFactory(location=store)

    with pytest.raises(NotFound):
        review.lines_dismiss(run_id=run.pk, line_ids=[elsewhere.pk], actor=finance, scope=EVERYWHERE, reason="x")


# --- Who may decide ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.FINANCE, Role.INVENTORY_CONTROL, Role.OPS_ADMIN])
def test_reviewing_roles_decide(run, store, role):
    line = variance(run, sku=SkuFactory(code="R"), location=store)

    review.lines_dismiss(run_id=run.pk, line_ids=[line.pk], actor=person(role, f"{role}-x"), scope=EVERYWHERE,
                         reason="checked")

    assert LineDecision.objects.filter(line=line).exists()


@pytest.mark.parametrize("role", [Role.STORE_OPS, Role.INTEGRATION_SUPPORT])
def test_other_roles_do_not_decide(run, store, role):
    line = variance(run, sku=SkuFactory(code="R"), location=store)

    with pytest.raises(review.NotAReviewer):
        review.lines_dismiss(run_id=run.pk, line_ids=[line.pk], actor=person(role, f"{role}-x", ["S1"]),
                             scope=LocationScope(frozenset({store.pk})), reason="mine")

    assert not LineDecision.objects.exists()
