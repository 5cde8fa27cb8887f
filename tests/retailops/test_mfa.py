"""The second sign-in step: finance, ops admins and the Django admin give a code from an
authenticator app (or a recovery code) after the password; other roles are not asked; a
partner's token call is untouched; wrong codes count towards the lockout; all on record."""

import re

import pytest
from axes.models import AccessFailureLog
from django.core.cache import cache
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.staff import staff_user_upsert
from retailops.models import SecondFactorEvent
from tests.mfa import authenticator_for, code_now, force_login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"
CODE_PAGE = "/sign-in/code/"
ENROL_PAGE = "/sign-in/authenticator/"


@pytest.fixture(autouse=True)
def fresh_lockout():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fiona():
    return staff_user_upsert(username="fiona", role="finance", password=PASSWORD)


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "the password sign-in"
    return client


def wrong_code(device: TOTPDevice) -> str:
    return "000000" if code_now(device) != "000000" else "111111"


def test_finance_enrols_gets_recovery_codes_and_gives_a_code_at_every_sign_in(fiona):
    client = signed_in("fiona")

    to_code = client.get("/inventory/approvals/")
    assert to_code.status_code == 302 and to_code.url == f"{CODE_PAGE}?next=%2Finventory%2Fapprovals%2F"
    to_enrol = client.get(to_code.url)
    assert to_enrol.status_code == 302 and to_enrol.url == f"{ENROL_PAGE}?next=%2Finventory%2Fapprovals%2F"

    enrolment = client.get(to_enrol.url)
    page = enrolment.content.decode()
    device = TOTPDevice.objects.get(user=fiona, confirmed=False)
    assert enrolment.status_code == 200
    assert '<svg' in page and "<title>QR code of your authenticator secret</title>" in page
    secret = re.search(r'<code class="mfa-secret">([A-Z2-7 ]+)</code>', page).group(1)
    assert secret.replace(" ", "") in device.config_url
    assert "http" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]  # drawn here, nothing fetched

    confirmed = client.post(ENROL_PAGE, {"code": code_now(device), "next": "/inventory/approvals/"})
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", confirmed.content.decode())
    assert confirmed.status_code == 200 and len(codes) == 10
    assert set(StaticToken.objects.filter(device__user=fiona).values_list("token", flat=True)) == set(codes)
    assert client.get("/inventory/approvals/").status_code == 200  # this session is verified

    client.post("/logout/")
    client = signed_in("fiona")
    asked = client.get("/inventory/approvals/")
    assert asked.url == f"{CODE_PAGE}?next=%2Finventory%2Fapprovals%2F"
    assert "Enter the 6-digit code from your authenticator app" in client.get(asked.url).content.decode()

    answered = client.post(CODE_PAGE, {"code": code_now(device), "next": "/inventory/approvals/"})
    assert answered.status_code == 302 and answered.url == "/inventory/approvals/"
    assert client.get("/inventory/approvals/").status_code == 200
    kinds = list(SecondFactorEvent.objects.filter(user=fiona).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["enrolled", "verified"]


def test_a_wrong_code_is_refused_throttled_and_counted_by_the_lockout(fiona):
    device = authenticator_for(fiona)
    client = signed_in("fiona")

    refused = client.post(CODE_PAGE, {"code": wrong_code(device), "next": "/"})
    at_once = client.post(CODE_PAGE, {"code": code_now(device), "next": "/"})  # the device waits a moment first

    assert refused.status_code == 400 and "That code is not right" in refused.content.decode()
    assert at_once.status_code == 400
    assert client.get("/inventory/approvals/").status_code == 302
    assert AccessFailureLog.objects.filter(username="fiona").count() == 2
    assert SecondFactorEvent.objects.filter(user=fiona, kind="refused").count() == 2


def test_wrong_codes_up_to_the_limit_lock_the_account_and_end_the_session(fiona, settings):
    settings.AXES_FAILURE_LIMIT = 3
    device = authenticator_for(fiona)
    client = signed_in("fiona")

    statuses = [client.post(CODE_PAGE, {"code": wrong_code(device)}).status_code for _ in range(3)]

    assert statuses == [400, 400, 429]
    assert "_auth_user_id" not in client.session
    again = Client().post("/login/", {"username": "fiona", "password": PASSWORD})
    assert again.status_code == 429  # the right password does not open it meanwhile


def test_the_password_alone_cannot_replace_an_enrolled_authenticator(fiona):
    device = authenticator_for(fiona)
    client = signed_in("fiona")

    shown = client.get(ENROL_PAGE + "?next=/")
    sent = client.post(ENROL_PAGE, {"code": "123456"})

    assert shown.status_code == 302 and shown.url.startswith(CODE_PAGE)
    assert sent.status_code == 302 and sent.url.startswith(CODE_PAGE)
    assert list(TOTPDevice.objects.filter(user=fiona)) == [device]


def test_a_recovery_code_works_once(fiona):
    client = signed_in("fiona")
    client.get(ENROL_PAGE)
    device = TOTPDevice.objects.get(user=fiona)
    page = client.post(ENROL_PAGE, {"code": code_now(device)}).content.decode()
    recovery = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page)[0]
    client.post("/logout/")

    first = signed_in("fiona")
    used = first.post(CODE_PAGE, {"code": recovery, "next": "/inventory/approvals/"})
    second = signed_in("fiona")
    reused = second.post(CODE_PAGE, {"code": recovery, "next": "/inventory/approvals/"})

    assert used.status_code == 302 and used.url == "/inventory/approvals/"
    assert reused.status_code == 400
    assert StaticToken.objects.filter(device__user=fiona).count() == 9
    assert SecondFactorEvent.objects.filter(user=fiona, kind="recovery_code_used").count() == 1


def test_inventory_control_is_not_asked_for_a_code():
    staff_user_upsert(username="ivan", role="inventory_control", password=PASSWORD)
    client = signed_in("ivan")

    assert client.get("/cases/queue/inventory_control/").status_code == 200


def test_the_admin_needs_the_second_factor():
    olga = staff_user_upsert(username="olga", role="ops_admin", password=PASSWORD)
    authenticator_for(olga)
    client = Client()
    response = client.post("/admin/login/", {"username": "olga", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302

    asked = client.get("/admin/auth/user/")
    assert asked.status_code == 302 and asked.url.startswith(CODE_PAGE)
    assert force_login_verified(Client(), olga).get("/admin/auth/user/").status_code == 200


def test_a_session_api_call_before_the_code_is_a_403_problem(fiona):
    client = signed_in("fiona")

    response = client.get("/api/v1/adjustments")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "mfa_required"


def test_a_partner_token_call_is_not_touched(partner_api):
    response = partner_api().get("/api/v1/skus")

    assert response.status_code == 200


def test_an_htmx_request_sends_the_whole_page_to_the_code_screen(fiona):
    client = signed_in("fiona")

    response = client.get("/cases/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{CODE_PAGE}?next=%2Fcases%2F"


def test_other_roles_may_enrol_and_are_then_asked_too():
    ivan = staff_user_upsert(username="ivan", role="inventory_control", password=PASSWORD)
    client = signed_in("ivan")
    client.get(ENROL_PAGE)
    client.post(ENROL_PAGE, {"code": code_now(TOTPDevice.objects.get(user=ivan))})
    client.post("/logout/")

    again = signed_in("ivan")

    assert again.get("/cases/queue/inventory_control/").url.startswith(f"{CODE_PAGE}?next=")
