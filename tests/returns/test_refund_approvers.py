"""Refunds worth the approval policy's second threshold or more need two different finance
approvers, by the adjustments' own rule; on screens the approver types their password again
first, as for such an adjustment."""

from datetime import timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from backoffice.staff import staff_user_upsert
from inventory.errors import DuplicateApprover, SelfApproval
from inventory.models import ApprovalPolicy
from retailops.access import LocationScope
from returns import refunds, services
from returns.models import RefundDecision
from tests.inventory.test_approval_password import typed_password_ago
from tests.returns.conftest import act, authorize
from tests.returns.test_screens import messages_of, signed_in

pytestmark = pytest.mark.django_db
EVERYWHERE = LocationScope(None)


@pytest.fixture
def policy(db):
    return ApprovalPolicy.objects.create(threshold=Decimal("50.00"), second_threshold=Decimal("100.00"))


def finance_api(name: str) -> APIClient:
    client = APIClient()
    client.user = staff_user_upsert(username=name, role="finance", password="pw-for-tests-1")
    client.force_authenticate(user=client.user)
    return client


def received_return(client, external_id="RA-2"):
    created = authorize(client, external_id=external_id, lines=[{"sku": "A", "quantity": 5}])
    act(client, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 5}]})
    return created["id"]


def test_above_the_second_threshold_one_approval_is_not_enough(control, place, policy):
    return_id = received_return(control)
    asked = act(control, return_id, "refund", {"amount": "100.00"})
    assert asked.status_code == 202 and asked.json()["refund"]["approvals_required"] == 2
    first, second = finance_api("fin-one"), finance_api("fin-two")

    once = act(first, return_id, "refund/approve", {"note": "looked at the parcel"})
    assert once.status_code == 200, once.json()
    assert once.json()["refund"]["status"] == "pending_approval"
    assert once.json()["refund"]["approved_by"] == ["fin-one"]
    again = act(first, return_id, "refund/approve", {})
    assert again.status_code == 403 and again.json()["code"] == "duplicate_approver"

    twice = act(second, return_id, "refund/approve", {"note": "agreed"})
    assert twice.json()["refund"]["status"] == "refunded"
    assert twice.json()["refund"]["approved_by"] == ["fin-one", "fin-two"]
    assert twice.json()["refund"]["decided_by"] == "fin-two"
    assert RefundDecision.objects.filter(decision="approve").count() == 2


def test_below_the_second_threshold_one_approval_pays(control, place, policy):
    return_id = received_return(control)
    act(control, return_id, "refund", {"amount": "99.99"})
    approved = act(finance_api("fin-one"), return_id, "refund/approve", {})
    assert approved.json()["refund"]["status"] == "refunded"
    assert approved.json()["refund"]["approvals_required"] == 1


def test_the_requester_never_approves_even_as_the_second_approver(place, policy):
    asker = staff_user_upsert(username="fin-asker", role="finance", password="pw-for-tests-1")
    other = staff_user_upsert(username="fin-other", role="finance", password="pw-for-tests-1")
    authorization, _new = services.return_authorize(external_id="RA-SELF", location_code="S1", actor=None,
                                                    scope=EVERYWHERE, lines=[services.LineInput("A", 5)])
    services.return_receive(authorization=authorization, lines=[services.LineInput("A", 5)], actor=None,
                            scope=EVERYWHERE)
    refund = refunds.refund_request(authorization=authorization, amount=Decimal("150.00"), actor=asker,
                                    scope=EVERYWHERE)
    with pytest.raises(SelfApproval):
        refunds.refund_approve(authorization=authorization, approver=asker)
    refunds.refund_approve(authorization=authorization, approver=other)
    with pytest.raises(SelfApproval):
        refunds.refund_approve(authorization=authorization, approver=asker)
    with pytest.raises(DuplicateApprover):
        refunds.refund_approve(authorization=authorization, approver=other)
    refund.refresh_from_db()
    assert refund.status == "pending_approval"
    assert list(refund.decisions.values_list("decided_by__username", flat=True)) == ["fin-other"]


def test_a_two_approver_refund_on_the_screen_asks_for_the_password_first(control, place, policy):
    return_id = received_return(control)
    act(control, return_id, "refund", {"amount": "120.00"})
    first = signed_in("fin-screen-1", "finance")
    typed_password_ago(first, timedelta(minutes=6))
    asked = first.post(f"/returns/{return_id}/refund/approve/", {"note": "ok"})
    assert asked.status_code == 302 and asked.url.startswith("/confirm-password/")
    assert not RefundDecision.objects.exists()

    typed_password_ago(first, timedelta(minutes=1))
    recorded = first.post(f"/returns/{return_id}/refund/approve/", {"note": "ok"}, follow=True)
    assert "needs 1 more, from another finance approver" in " ".join(messages_of(recorded))
    inbox = first.get("/inventory/approvals/").content.decode()
    assert "You approved this refund" in inbox and "(1 of 2)" in inbox

    second = signed_in("fin-screen-2", "finance")
    paid = second.post(f"/returns/{return_id}/refund/approve/", {}, follow=True)
    assert "approved and paid" in " ".join(messages_of(paid))
