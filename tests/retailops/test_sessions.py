"""A staff session ends after 30 idle minutes and 12 hours after sign-in (both set from the
environment); the person goes back to the sign-in page with a message, and then returns."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from retailops.sessions import LAST_SEEN_AT, SIGNED_IN_AT
from tests.mfa import force_login_verified
from tests.retailops.test_settings import load_settings

pytestmark = pytest.mark.django_db

PAGE = "/inventory/approvals/"


@pytest.fixture
def finance():
    client = Client()
    force_login_verified(client, staff_user_upsert(username="fin", role="finance", password="pw-for-tests-1"))
    return client


def age(client, **stamps: timedelta) -> None:
    """Move the session's stamps into the past."""
    session = client.session
    for name, ago in stamps.items():
        session[{"signed_in": SIGNED_IN_AT, "last_seen": LAST_SEEN_AT}[name]] = (timezone.now() - ago).timestamp()
    session.save()


def test_a_session_idle_for_more_than_thirty_minutes_goes_back_to_sign_in_with_a_message(finance):
    age(finance, last_seen=timedelta(minutes=31))

    response = finance.get(PAGE + "?page=2")

    assert response.status_code == 302
    assert response.url == "/login/?next=/inventory/approvals/%3Fpage%3D2"
    login_page = finance.get(response.url).content.decode()
    assert "signed out after 30 minutes without activity" in login_page
    assert finance.get(PAGE).status_code == 302  # signed out for good, not just redirected once


def test_activity_keeps_a_session_alive(finance):
    age(finance, last_seen=timedelta(minutes=29))

    assert finance.get(PAGE).status_code == 200
    assert timezone.now().timestamp() - finance.session[LAST_SEEN_AT] < 60  # the clock starts again


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(finance):
    age(finance, signed_in=timedelta(hours=12, seconds=1), last_seen=timedelta(seconds=5))

    response = finance.get(PAGE)

    assert response.status_code == 302 and response.url.startswith("/login/?next=")
    assert "reached its limit of 12 hours" in finance.get(response.url).content.decode()


def test_a_form_sent_after_the_session_ended_returns_to_the_page_it_was_sent_from(finance):
    age(finance, last_seen=timedelta(hours=1))

    response = finance.post("/inventory/approvals/1/approve/", {"note": ""},
                            HTTP_REFERER="http://testserver/inventory/approvals/")

    assert response.status_code == 302
    assert response.url == "/login/?next=http%3A//testserver/inventory/approvals/"


def test_an_htmx_request_sends_the_whole_page_to_sign_in(finance):
    age(finance, last_seen=timedelta(hours=1))

    response = finance.get("/cases/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")


def test_a_browser_api_call_after_the_session_ended_is_unauthenticated_not_redirected(finance):
    age(finance, last_seen=timedelta(hours=1))

    response = finance.get("/api/v1/adjustments")

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"


def test_the_timeouts_are_configurable(settings, finance):
    settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=5)
    age(finance, last_seen=timedelta(minutes=6))

    assert finance.get(PAGE).status_code == 302


def test_the_defaults_are_thirty_minutes_and_twelve_hours_and_the_environment_sets_them():
    assert django_settings.SESSION_IDLE_TIMEOUT == timedelta(minutes=30)
    assert django_settings.SESSION_ABSOLUTE_TIMEOUT == timedelta(hours=12)
    assert django_settings.SESSION_COOKIE_AGE == 12 * 3600  # no more 14-day cookies

    shown = load_settings(DEBUG="1", SESSION_IDLE_TIMEOUT_MINUTES="15", SESSION_ABSOLUTE_TIMEOUT_HOURS="8",
                          code="print(settings.SESSION_IDLE_TIMEOUT, settings.SESSION_COOKIE_AGE)")
    assert shown.stdout.split() == ["0:15:00", "28800"]
