"""Working a case: every move is allowed by the lifecycle, needs its why, and is recorded
with who did it."""

from decimal import Decimal

import pytest

from backoffice.staff import staff_user_upsert
from exceptions import services
from exceptions.models import Case, CaseComment
from exceptions.states import CaseStatus, RootCause
from retailops.errors import InvalidInput, InvalidState
from retailops.roles import Role
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return staff_user_upsert(username="alice", role=Role.INVENTORY_CONTROL, password="pw-for-tests-1")


@pytest.fixture
def bob():
    return staff_user_upsert(username="bob", role=Role.INVENTORY_CONTROL, password="pw-for-tests-1")


def reasons(case):
    return [(row.history_user.username if row.history_user else None, row.history_change_reason)
            for row in case.history.order_by("history_date", "history_id")][1:]


def test_assign_start_resolve_records_who_and_why(alice, bob):
    case = CaseFactory()
    case = services.case_assign(case=case, assignee=bob, actor=alice)
    assert (case.status, case.assignee) == (CaseStatus.ASSIGNED, bob)
    case = services.case_start(case=case, actor=bob)
    assert case.status == CaseStatus.IN_PROGRESS
    case = services.case_resolve(case=case, actor=bob, root_cause=RootCause.MISCOUNT, note="Recounted: 4 units")

    assert (case.status, case.root_cause, case.resolved_by) == (CaseStatus.RESOLVED, "miscount", bob)
    assert case.resolution_note == "Recounted: 4 units"
    assert reasons(case) == [
        ("alice", "assigned to bob (open → assigned)"),
        ("bob", "started work (assigned → in_progress)"),
        ("bob", "resolved: miscount (in_progress → resolved)"),
    ]


def test_resolving_needs_a_root_cause_a_person_may_pick(alice):
    case = CaseFactory()
    with pytest.raises(InvalidInput) as missing:
        services.case_resolve(case=case, actor=alice, root_cause="")
    assert missing.value.code == "root_cause_required"
    with pytest.raises(InvalidInput) as systems_own:
        services.case_resolve(case=case, actor=alice, root_cause=RootCause.CONDITION_CLEARED)
    assert systems_own.value.code == "invalid_root_cause"
    assert Case.objects.get(pk=case.pk).status == CaseStatus.OPEN


def test_dismissing_needs_a_reason(alice):
    case = CaseFactory()
    with pytest.raises(InvalidInput) as error:
        services.case_dismiss(case=case, actor=alice, reason="  ")
    assert error.value.code == "dismissal_reason_required"
    case = services.case_dismiss(case=case, actor=alice, reason="Test store, not real stock")
    assert (case.status, case.resolution_note) == (CaseStatus.DISMISSED, "Test store, not real stock")


def test_a_closed_case_cannot_move_again(alice):
    case = CaseFactory(resolved=True)
    with pytest.raises(InvalidState):
        services.case_assign(case=case, assignee=alice, actor=alice)
    with pytest.raises(InvalidState):
        services.case_dismiss(case=case, actor=alice, reason="again")


def test_starting_an_unassigned_case_assigns_it_to_whoever_starts(alice):
    case = services.case_start(case=CaseFactory(), actor=alice)
    assert (case.status, case.assignee) == (CaseStatus.IN_PROGRESS, alice)


def test_a_store_user_cannot_be_given_another_stores_case(alice):
    s1, s2 = LocationFactory(code="S1"), LocationFactory(code="S2")
    sam = staff_user_upsert(username="sam", role=Role.STORE_OPS, password="pw-for-tests-1", location_codes=["S1"])
    assert services.case_assign(case=CaseFactory(location=s1), assignee=sam, actor=alice).assignee == sam
    with pytest.raises(InvalidInput) as error:
        services.case_assign(case=CaseFactory(location=s2), assignee=sam, actor=alice)
    assert error.value.code == "invalid_assignee"


def test_comments_need_text_and_keep_their_author(alice):
    case = CaseFactory()
    with pytest.raises(InvalidInput):
        services.case_comment(case=case, author=alice, body=" ")
    services.case_comment(case=case, author=alice, body="Called the store")
    assert list(CaseComment.objects.values_list("author__username", "body")) == [("alice", "Called the store")]


def test_bulk_assign_and_resolve_are_all_or_none(alice, bob):
    cases = CaseFactory.create_batch(3)
    ids = [case.pk for case in cases]
    assert services.cases_bulk_assign(case_ids=ids, assignee=bob, actor=alice) == 3
    assert set(Case.objects.values_list("status", "assignee__username")) == {("assigned", "bob")}

    closed = CaseFactory(resolved=True)
    with pytest.raises(InvalidState):
        services.cases_bulk_resolve(case_ids=[*ids, closed.pk], actor=alice, root_cause=RootCause.SHRINK)
    assert Case.objects.filter(status="assigned").count() == 3

    assert services.cases_bulk_resolve(case_ids=ids, actor=alice, root_cause=RootCause.SHRINK, note="Theft") == 3
    for case in Case.objects.filter(pk__in=ids):
        assert (case.status, case.root_cause, case.resolution_note) == ("resolved", "shrink", "Theft")
        assert reasons(case)[-1] == ("alice", "resolved: shrink (bulk → resolved)")


def test_escalation_flags_and_ranks_with_overdue_urgency(alice):
    case = services.case_escalate(case=CaseFactory(overdue=True))
    assert case.escalated and case.escalated_at
    assert case.priority_factors["urgency"] == "3.0"
    assert case.priority == Decimal("45.00")  # 10.00 × 3.0 × 1.5
