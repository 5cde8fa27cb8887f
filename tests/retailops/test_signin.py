"""Sign-ins: too many failures lock the account and the address (the staff login, the
admin login and the API token login alike), and every sign-in is on record."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from backoffice.staff import staff_user_upsert
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


@pytest.fixture(autouse=True)
def three_failures_lock(settings):
    settings.AXES_FAILURE_LIMIT = 3
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice():
    return staff_user_upsert(username="alice", role="finance", password=PASSWORD)


def sign_in(username: str, password: str, *, path: str = "/login/", address: str = "198.51.100.7", **extra):
    client = Client()
    response = client.post(path, {"username": username, "password": password, "next": "/"},
                           REMOTE_ADDR=address, **extra)
    response.signed_in = "_auth_user_id" in client.session
    return response


def test_the_right_password_after_too_many_wrong_ones_is_refused_with_a_message_in_the_login_layout(alice):
    statuses = [sign_in("alice", "guess").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # the failure that reaches the limit already says so

    response = sign_in("alice", PASSWORD, address="192.0.2.44")  # another address: the account is locked

    assert response.status_code == 429
    assert not response.signed_in
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert 'name="username"' in page and 'value="alice"' in page  # the app's sign-in page, not a bare 403
    assert "Sign in · RetailOps" in page


def test_one_address_guessing_many_accounts_is_locked_out_whatever_header_it_sends(alice):
    for n in range(3):
        sign_in(f"user-{n}", "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    from_there = sign_in("alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")
    from_elsewhere = sign_in("alice", PASSWORD, address="192.0.2.44")

    assert from_there.status_code == 429 and not from_there.signed_in
    assert from_elsewhere.status_code == 302 and from_elsewhere.signed_in


def test_the_admin_login_is_locked_out_the_same_way():
    staff_user_upsert(username="root", role="ops_admin", password=PASSWORD)
    for _ in range(3):
        sign_in("root", "guess", path="/admin/login/")

    response = sign_in("root", PASSWORD, path="/admin/login/", address="192.0.2.44")

    assert response.status_code == 429
    assert not response.signed_in
    assert "Too many failed sign-ins" in response.content.decode()


def test_the_lock_ends_once_the_lockout_time_has_passed_without_another_try(alice, settings):
    for _ in range(3):
        sign_in("alice", "guess")
    assert sign_in("alice", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    assert sign_in("alice", PASSWORD).signed_in


def test_the_token_login_is_locked_out_too_with_a_throttled_problem(alice):
    api = APIClient()
    for _ in range(3):
        api.post("/api/v1/auth/token", {"username": "alice", "password": "guess"}, format="json")

    response = api.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_every_sign_in_and_failure_is_recorded_with_who_and_where(alice):
    sign_in("alice", "guess", HTTP_USER_AGENT="till-7")
    sign_in("alice", PASSWORD, HTTP_USER_AGENT="till-7")

    failure = AccessFailureLog.objects.get()
    success = AccessLog.objects.get()
    assert (failure.username, failure.ip_address, failure.user_agent) == ("alice", "198.51.100.7", "till-7")
    assert (success.username, success.ip_address, success.path_info) == ("alice", "198.51.100.7", "/login/")


def test_ops_admins_read_the_sign_in_log_in_the_admin_and_cannot_change_it(alice):
    sign_in("alice", PASSWORD)
    entry = AccessLog.objects.get()
    admin = Client()
    force_login_verified(admin, staff_user_upsert(username="root", role="ops_admin", password=PASSWORD))

    listing = admin.get("/admin/axes/accesslog/")
    detail = admin.get(f"/admin/axes/accesslog/{entry.pk}/change/")
    failures = admin.get("/admin/axes/accessfailurelog/")
    deleting = admin.post(f"/admin/axes/accesslog/{entry.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200 and "alice" in listing.content.decode()
    assert failures.status_code == 200
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert deleting.status_code == 403
    assert AccessLog.objects.filter(pk=entry.pk).exists()


def test_wrong_second_factor_codes_at_the_token_login_lock_the_account_like_wrong_passwords(alice):
    from tests.mfa import authenticator_for, code_now

    device = authenticator_for(alice)
    api = APIClient()
    statuses = [api.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD, "code": "abcdefgh"},
                         format="json").status_code for _ in range(3)]

    response = api.post("/api/v1/auth/token", {"username": "alice", "password": PASSWORD, "code": code_now(device)},
                        format="json")

    assert statuses == [401, 401, 429]
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
