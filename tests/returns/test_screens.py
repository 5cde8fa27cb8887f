"""The returns screens as staff use them: the desk, the list and its filters, a return's
detail, and held refunds in finance's approval inbox."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from inventory.models import StockLevel
from retailops.access import LocationScope
from returns import refunds, services
from returns.models import ReturnAuthorization
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db
EVERYWHERE = LocationScope(None)


def signed_in(username, role, locations=(), **options):
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    client = Client(**options)
    force_login_verified(client, user)
    client.user = user
    return client


@pytest.fixture
def clerk(place):
    return signed_in("clerk-returns", "store_ops", locations=["S1"])


def authorized(external_id="RA-DESK", location="S1", quantity=3, actor=None):
    authorization, _new = services.return_authorize(external_id=external_id, location_code=location,
                                                    lines=[services.LineInput("A", quantity, "too small")],
                                                    actor=actor, scope=EVERYWHERE)
    return authorization


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def test_the_desk_finds_a_return_by_its_number_and_receives_and_inspects_it(clerk, place):
    authorization = authorized()
    page = clerk.get("/returns/desk/", {"reference": "RA-DESK"})
    assert page.status_code == 200 and page.context["authorization"].pk == authorization.pk
    line = authorization.lines.get()
    received = clerk.post(f"/returns/{authorization.pk}/receive/", {f"line_{line.pk}": "3"}, follow=True)
    assert "3 unit(s) received into quality control" in " ".join(messages_of(received))
    inspected = clerk.post(f"/returns/{authorization.pk}/inspect/",
                           {f"restock_{line.pk}": "2", f"damaged_{line.pk}": "1"}, follow=True)
    assert "3 unit(s) inspected" in " ".join(messages_of(inspected))
    stock = StockLevel.objects.get(sku=place.a, location=place.store)
    assert (stock.on_hand, stock.quality_control, stock.damaged, stock.available) == (3, 0, 1, 2)
    assert ReturnAuthorization.objects.get().status == "inspected"


def test_the_desk_says_so_when_no_return_has_that_number(clerk, place):
    page = clerk.get("/returns/desk/", {"reference": "RA-NONE"})
    assert page.status_code == 200 and page.context["authorization"] is None
    assert "No return numbered 'RA-NONE'" in " ".join(messages_of(page))


def test_an_error_at_the_desk_is_a_message_and_changes_nothing(clerk, place):
    authorization = authorized()
    line = authorization.lines.get()
    response = clerk.post(f"/returns/{authorization.pk}/receive/", {f"line_{line.pk}": "9"}, follow=True)
    assert response.status_code == 200
    assert "was not received" in " ".join(messages_of(response))
    assert authorization.lines.get().received == 0


def test_a_store_user_cannot_reach_another_stores_return(clerk, place):
    theirs = authorized(external_id="RA-S2", location="S2")
    assert clerk.get("/returns/desk/", {"reference": "RA-S2"}).context["authorization"] is None
    assert clerk.get(f"/returns/{theirs.pk}/").status_code == 404
    assert clerk.post(f"/returns/{theirs.pk}/receive/", {}).status_code == 404


def test_a_post_without_a_csrf_token_is_refused(place):
    strict = signed_in("clerk-strict", "store_ops", locations=["S1"], enforce_csrf_checks=True)
    authorization = authorized()
    assert strict.post(f"/returns/{authorization.pk}/receive/", {}).status_code == 403


def test_the_list_filters_by_status_location_and_age(clerk, place):
    old = authorized(external_id="RA-OLD")
    authorized(external_id="RA-NEW")
    ReturnAuthorization.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    everything = clerk.get("/returns/")
    assert [row.external_id for row in everything.context["page"].object_list] == ["RA-NEW", "RA-OLD"]
    aged = clerk.get("/returns/", {"older_than_days": "7"})
    assert [row.external_id for row in aged.context["page"].object_list] == ["RA-OLD"]
    assert list(clerk.get("/returns/", {"status": "closed"}).context["page"].object_list) == []
    bad = clerk.get("/returns/", {"older_than_days": "soon"})
    assert bad.status_code == 200 and "Filters not applied" in " ".join(messages_of(bad))


def test_the_detail_shows_the_timeline_and_history(clerk, place):
    authorization = authorized(actor=clerk.user)
    services.return_receive(authorization=authorization, lines=[services.LineInput("A", 3)], actor=clerk.user,
                            scope=EVERYWHERE)
    page = clerk.get(f"/returns/{authorization.pk}/")
    assert page.status_code == 200
    steps = dict(page.context["steps"])
    assert steps["Authorised"] and steps["Received"] and steps["Inspected"] is None
    assert [entry.status for entry in page.context["history"]] == ["received", "authorized"]
    assert b"Receipts and inspections" in page.content


def test_finance_sees_held_refunds_in_the_approval_inbox_and_approves_them(clerk, place):
    finance = signed_in("finance-returns", "finance")
    authorization = authorized(actor=clerk.user)
    refunds.refund_request(authorization=authorization, amount=Decimal("30.00"), actor=clerk.user, scope=EVERYWHERE)
    inbox = finance.get("/inventory/approvals/")
    assert b"Refunds waiting for approval" in inbox.content and b"RA-DESK" in inbox.content
    approved = finance.post(f"/returns/{authorization.pk}/refund/approve/", {"note": "parcel scanned"}, follow=True)
    assert "approved and paid" in " ".join(messages_of(approved))
    assert authorization.refunds.get().status == "refunded"


def test_finance_cannot_approve_a_refund_they_asked_for_on_the_screen(place):
    finance = signed_in("finance-self", "finance")
    authorization = authorized(actor=finance.user)
    refunds.refund_request(authorization=authorization, amount=Decimal("30.00"), actor=finance.user,
                           scope=EVERYWHERE)
    assert b"You asked for this refund" in finance.get("/inventory/approvals/").content
    refused = finance.post(f"/returns/{authorization.pk}/refund/approve/", {}, follow=True)
    assert "was not changed" in " ".join(messages_of(refused))
    assert authorization.refunds.get().status == "pending_approval"


def test_only_finance_decides_refunds_on_the_screen(clerk, place):
    authorization = authorized()
    assert clerk.post(f"/returns/{authorization.pk}/refund/approve/", {}).status_code == 403
