"""Approving an adjustment worth the policy's second threshold or more needs the password
typed within the last few minutes: at sign-in, or again on the confirmation screen. Below
it, and for token-authenticated API calls, nothing changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from backoffice.staff import staff_user_upsert
from integrations.services import staff_token_issue
from inventory.adjustments import adjustment_request
from inventory.ledger import Movement, post_movements
from inventory.models import AdjustmentDecision, ApprovalPolicy, Bucket
from retailops.access import LocationScope
from retailops.sessions import PASSWORD_CONFIRMED_AT
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


@pytest.fixture
def requested():
    """Two pending adjustments: one needing one approver (500.00), one needing two (2000.00)."""
    ApprovalPolicy.objects.create(threshold=Decimal("100.00"), second_threshold=Decimal("2000.00"))
    store = LocationFactory(code="PW1")
    sku = SkuFactory(code="PW-SKU", unit_cost=Decimal("100.00"))
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, 100, reason="receipt")])
    control = staff_user_upsert(username="ctl", role="inventory_control", password=PASSWORD)

    def ask(delta):
        return adjustment_request(sku_code="PW-SKU", location_code="PW1", delta=delta, reason="shrink",
                                  actor=control, scope=LocationScope(None))

    return {"small": ask(-5), "large": ask(-20)}


@pytest.fixture
def finance():
    client = Client()
    client.user = staff_user_upsert(username="fin", role="finance", password=PASSWORD)
    force_login_verified(client, client.user)
    return client


def typed_password_ago(client, ago: timedelta) -> None:
    session = client.session
    session[PASSWORD_CONFIRMED_AT] = (timezone.now() - ago).timestamp()
    session.save()


def approvals_of(adjustment) -> int:
    return AdjustmentDecision.objects.filter(adjustment=adjustment).count()


def test_a_large_approval_asks_for_the_password_again_then_goes_back_to_the_approval(finance, requested):
    large = requested["large"]
    assert large.needs_two_approvers
    typed_password_ago(finance, timedelta(minutes=6))

    asked = finance.post(f"/inventory/approvals/{large.pk}/approve/", {"note": "ok"})

    assert asked.status_code == 302
    assert asked.url == f"/confirm-password/?next=%2Finventory%2Fapprovals%2F%23adjustment-{large.pk}-heading"
    assert approvals_of(large) == 0
    prompt = finance.get(asked.url)
    assert prompt.status_code == 200
    assert "type your password again to approve it" in prompt.content.decode()
    assert 'type="password"' in prompt.content.decode() and "Sign out" in prompt.content.decode()  # app layout

    wrong = finance.post("/confirm-password/", {"password": "nope", "next": "/inventory/approvals/"})
    assert wrong.status_code == 400 and "That is not your password." in wrong.content.decode()
    assert finance.post(f"/inventory/approvals/{large.pk}/approve/", {"note": "ok"}).status_code == 302
    assert approvals_of(large) == 0

    confirmed = finance.post("/confirm-password/", {"password": PASSWORD,
                                                    "next": f"/inventory/approvals/#adjustment-{large.pk}-heading"})
    assert confirmed.url == f"/inventory/approvals/#adjustment-{large.pk}-heading"
    finance.post(f"/inventory/approvals/{large.pk}/approve/", {"note": "ok"})
    assert approvals_of(large) == 1


def test_a_password_typed_at_sign_in_a_moment_ago_is_enough(finance, requested):
    finance.post(f"/inventory/approvals/{requested['large'].pk}/approve/", {"note": ""})

    assert approvals_of(requested["large"]) == 1


def test_below_the_second_threshold_nobody_is_asked_again(finance, requested):
    typed_password_ago(finance, timedelta(hours=2))

    finance.post(f"/inventory/approvals/{requested['small'].pk}/approve/", {"note": ""})

    assert approvals_of(requested["small"]) == 1


def test_the_confirmation_only_returns_into_this_site(finance):
    response = finance.post("/confirm-password/", {"password": PASSWORD, "next": "https://evil.example/"})

    assert response.url == "/"


def test_the_api_with_the_browser_session_asks_too_and_a_token_does_not(finance, requested):
    large = requested["large"]
    typed_password_ago(finance, timedelta(minutes=6))

    by_session = finance.post(f"/api/v1/adjustments/{large.pk}/approve", {}, content_type="application/json")
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token_issue(user=finance.user).token}")
    by_token = token.post(f"/api/v1/adjustments/{large.pk}/approve", {}, format="json")

    assert (by_session.status_code, by_session.json()["code"]) == (403, "password_confirmation_required")
    assert by_token.status_code == 200
    assert approvals_of(large) == 1
