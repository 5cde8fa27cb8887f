"""Refunds through the approval policy, the credit note through the outbox, and the
cases a return opens."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exceptions.models import Case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, OutboxMessage
from inventory.models import ApprovalPolicy
from retailops.access import LocationScope
from returns import detectors, services
from returns.models import Refund, ReturnAuthorization
from returns.refunds import return_postings_dead_lettered
from tests.returns.conftest import URL, act, authorize

pytestmark = pytest.mark.django_db


def received(client, external_id="RA-1", quantity=3):
    created = authorize(client, external_id=external_id, lines=[{"sku": "A", "quantity": quantity}])
    act(client, created["id"], "receive", {"lines": [{"sku": "A", "quantity": quantity}]})
    return created["id"]


@pytest.fixture
def erp(db):
    return ExternalSystem.objects.create(code="erp", name="ERP", kind=ExternalSystem.Kind.ERP,
                                         adapter=ExternalSystem.Adapter.JSON_HTTP, base_url="http://127.0.0.1:9/erp")


def test_a_small_refund_after_receipt_is_paid_at_once_and_posts_a_credit_note(control, place, erp):
    return_id = received(control)
    response = act(control, return_id, "refund", {"amount": "60.00"})
    assert response.status_code == 200
    assert response.json()["refund"]["status"] == "refunded"
    assert response.json()["erp_posting"] == {"status": "pending"}
    message = OutboxMessage.objects.get(topic=OutboxMessage.Topic.DOCUMENT)
    assert message.payload["document_type"] == "credit_note"
    assert message.payload["document"]["amount"] == "60.00"
    assert message.payload["document"]["external_id"] == "RA-1"
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.DELIVERED)
    assert control.get(f"{URL}/{return_id}").json()["erp_posting"] == {"status": "delivered"}


def test_a_refund_worth_the_threshold_waits_for_finance_with_202(control, finance, place, erp):
    ApprovalPolicy.objects.create(threshold=Decimal("50.00"))
    return_id = received(control)
    response = act(control, return_id, "refund", {"amount": "60.00"})
    assert response.status_code == 202
    assert response.json()["refund"] == {"amount": "60.00", "status": "pending_approval", "held_for": "value",
                                         "requested_by": control.user.username, "decided_by": None,
                                         "approvals_required": 1, "approved_by": []}
    assert not OutboxMessage.objects.filter(topic=OutboxMessage.Topic.DOCUMENT).exists()
    approved = act(finance, return_id, "refund/approve", {"note": "ok"})
    assert approved.status_code == 200, approved.json()
    assert approved.json()["refund"]["status"] == "refunded"
    assert approved.json()["refund"]["decided_by"] == finance.user.username
    assert OutboxMessage.objects.filter(topic=OutboxMessage.Topic.DOCUMENT).count() == 1


def test_a_refund_before_any_receipt_waits_for_finance_whatever_its_value(control, finance, place):
    created = authorize(control)
    response = act(control, created["id"], "refund", {"amount": "1.00"})
    assert response.status_code == 202
    assert response.json()["refund"]["held_for"] == "before_receipt"
    rejected = act(finance, created["id"], "refund/reject", {"note": "wait for the parcel"})
    assert rejected.json()["refund"]["status"] == "rejected"
    assert act(finance, created["id"], "refund/reject", {"note": "again"}).json()["code"] == "invalid_state"
    # A rejected refund may be asked for again, once the units are back.
    act(control, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 3}]})
    assert act(control, created["id"], "refund", {"amount": "1.00"}).json()["refund"]["status"] == "refunded"


def test_rejecting_needs_a_note(control, finance, place):
    created = authorize(control)
    act(control, created["id"], "refund", {"amount": "5.00"})
    response = act(finance, created["id"], "refund/reject", {})
    assert response.status_code == 400


def test_nobody_approves_their_own_refund(staff_api, place):
    finance = staff_api("finance")
    created, _new = services.return_authorize(external_id="RA-SELF", location_code="S1",
                                              lines=[services.LineInput("A", 1)], actor=finance.user,
                                              scope=LocationScope(None))
    from returns.refunds import refund_request

    refund_request(authorization=created, amount=Decimal("5.00"), actor=finance.user, scope=LocationScope(None))
    response = act(finance, created.pk, "refund/approve")
    assert response.status_code == 403 and response.json()["code"] == "self_approval"
    assert Refund.objects.get().status == "pending_approval"


@pytest.mark.parametrize("role", ["inventory_control", "store_ops"])
def test_only_finance_decides_refunds(staff_api, control, place, role):
    created = authorize(control)
    act(control, created["id"], "refund", {"amount": "5.00"})
    other = staff_api(role, locations=["S1"])
    assert act(other, created["id"], "refund/approve").status_code == 403


def test_partners_cannot_decide_refunds(partner_api, control, place):
    created = authorize(control)
    act(control, created["id"], "refund", {"amount": "5.00"})
    assert act(partner_api("shop"), created["id"], "refund/approve").status_code == 403


def test_a_second_refund_while_one_stands_is_invalid_state(control, place):
    return_id = received(control)
    act(control, return_id, "refund", {"amount": "5.00"})
    response = act(control, return_id, "refund", {"amount": "5.00"})
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_a_non_positive_amount_is_400(control, place):
    return_id = received(control)
    assert act(control, return_id, "refund", {"amount": "0"}).status_code == 400
    assert act(control, return_id, "refund", {"amount": "-3"}).status_code == 400


def test_refunded_before_inspection_settles_when_inspected(control, place):
    return_id = received(control)
    assert act(control, return_id, "refund", {"amount": "5.00"}).json()["status"] == "received"
    inspected = act(control, return_id, "inspect", {"lines": [{"sku": "A", "quantity": 3,
                                                               "disposition": "restock"}]})
    assert inspected.json()["status"] == "refunded"


def test_a_dead_lettered_credit_note_opens_the_returns_case(control, place, erp):
    return_id = received(control)
    act(control, return_id, "refund", {"amount": "60.00"})
    message = OutboxMessage.objects.get(topic=OutboxMessage.Topic.DOCUMENT)
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.DEAD)
    assert return_postings_dead_lettered(message_ids=[message.pk]) == 1
    case = Case.objects.get(kind=CaseKind.RETURN_UNRECONCILED)
    assert case.context["message_id"] == message.pk and case.subject_id == str(return_id)
    assert control.get(f"{URL}/{return_id}").json()["erp_posting"] == {"status": "dead"}


def test_units_without_an_authorisation_are_received_and_open_a_case(control, place):
    authorization = services.return_receive_unauthorized(
        location_code="S1", lines=[services.LineInput("B", 2)], actor=control.user, scope=LocationScope(None))
    assert authorization.authorized is False and authorization.status == "received"
    body = control.get(f"{URL}/{authorization.pk}").json()
    assert body["lines"][0]["received"] == 2 and body["authorized"] is False
    case = Case.objects.get(kind=CaseKind.RETURN_UNRECONCILED)
    assert case.dedup_key == f"return_unreconciled:{authorization.pk}"
    from inventory.models import StockLevel

    stock = StockLevel.objects.get(sku=place.b, location=place.store)
    assert (stock.on_hand, stock.quality_control) == (2, 2)


def test_the_periodic_check_finds_refunded_not_received_and_received_not_refunded(control, finance, place,
                                                                                  settings):
    settings.RETURN_REFUND_WITHOUT_RECEIPT_DAYS = 3
    settings.RETURN_RECEIPT_WITHOUT_REFUND_DAYS = 5
    settings.RETURN_AUTHORIZATION_EXPIRY_DAYS = 30
    paid_early = authorize(control, external_id="RA-PAID")
    act(control, paid_early["id"], "refund", {"amount": "5.00"})
    act(finance, paid_early["id"], "refund/approve")
    waiting = received(control, external_id="RA-WAIT")
    forgotten = authorize(control, external_id="RA-OLD")
    later = timezone.now() + timedelta(days=6)
    assert detectors.returns_unreconciled_detect(now=later) == {
        "refunded_not_received": 1, "received_not_refunded": 1, "expired": 0}
    cases = {case.subject_id: case for case in Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED)}
    assert set(cases) == {str(paid_early["id"]), str(waiting)}
    assert detectors.returns_unreconciled_detect(now=later)["refunded_not_received"] == 1
    assert Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED).count() == 2  # bumped, not duplicated
    assert detectors.returns_unreconciled_detect(now=timezone.now() + timedelta(days=31))["expired"] == 1
    assert ReturnAuthorization.objects.get(pk=forgotten["id"]).status == "expired"
    assert ReturnAuthorization.objects.get(pk=paid_early["id"]).status == "authorized"  # a refund stands on it
