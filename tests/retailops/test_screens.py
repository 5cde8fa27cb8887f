"""Sign-in, the home page each role lands on, and CSRF on forms."""

import pytest
from django.test import Client

from retailops.roles import Role
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(staff_api):
    return staff_api(Role.INVENTORY_CONTROL, username="alice").user


def test_pages_need_a_signed_in_user(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_sign_in_lands_on_home_showing_the_role(alice):
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content

    response = client.post("/login/", {"username": "alice", "password": "pw-for-tests-1"}, follow=True)
    assert response.status_code == 200
    assert b"Inventory control" in response.content
    assert b"Sign out" in response.content


def test_wrong_password_shows_a_message(alice):
    response = Client().post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def test_sign_out_is_a_post(alice):
    client = Client()
    force_login_verified(client, alice)
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_form_post_without_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": "pw-for-tests-1"})
    assert response.status_code == 403


def test_api_session_post_needs_csrf_too(alice):
    client = Client(enforce_csrf_checks=True)
    force_login_verified(client, alice)
    response = client.post("/api/v1/auth/token", {"username": "alice", "password": "pw-for-tests-1"},
                           content_type="application/json")
    # The token endpoint takes no session; a session write endpoint would be refused without a token:
    assert response.status_code == 201
    put = client.put("/api/v1/skus/A1", {"name": "a", "unit_cost": "1", "price": "2"}, content_type="application/json")
    assert put.status_code == 403
    assert put.json()["code"] == "permission_denied"
    assert "CSRF" in put.json()["detail"]


def test_navigation_shows_admin_only_to_ops_admin(staff_api):
    client = Client()
    force_login_verified(client, staff_api(Role.OPS_ADMIN).user)
    assert b">Admin<" in client.get("/", follow=True).content
    force_login_verified(client, staff_api(Role.STORE_OPS).user)
    assert b">Admin<" not in client.get("/").content


# --- Hostile input: a NUL character is refused with a message in the app's layout ----------


@pytest.fixture
def control(staff_api):
    client = Client()
    force_login_verified(client, staff_api(Role.INVENTORY_CONTROL).user)
    return client


def assert_refused_in_layout(response) -> None:
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="topbar"' in page and "Sign out" in page  # the app's own layout, signed in
    assert "NUL character" in page


@pytest.mark.parametrize(("action", "field"), [("comment", "body"), ("dismiss", "reason"), ("recount", "note"),
                                               ("resolve", "note"), ("assign", "note")])
def test_a_nul_character_in_a_case_action_is_refused_and_changes_nothing(control, action, field):
    from exceptions.models import Case
    from tests.exceptions.factories import CaseFactory
    from tests.inventory.factories import LocationFactory, SkuFactory

    case = CaseFactory(sku=SkuFactory(code="A"), location=LocationFactory(code="S1"))
    response = control.post(f"/cases/{case.pk}/{action}/", {field: "torn\x00packs", "root_cause": "miscount"})

    assert_refused_in_layout(response)
    refreshed = Case.objects.get(pk=case.pk)
    assert (refreshed.status, refreshed.updated_at) == (case.status, case.updated_at)
    assert not refreshed.comments.exists()


@pytest.mark.parametrize("url", ["/integrations/pos%00main/", "/orders/?q=W%00-1", "/cases/?location=S1%00",
                                 "/inventory/transfers/?reference=%00", "/cases/?%00=1"])
def test_a_nul_character_in_a_screens_address_is_refused(control, url):
    assert_refused_in_layout(control.get(url))


def test_the_api_answers_nul_characters_itself(staff_api):
    client = Client()
    force_login_verified(client, staff_api(Role.OPS_ADMIN).user)

    response = client.get("/api/v1/orders", {"channel": "web\x00"})

    assert response.status_code == 400
    assert response.json()["code"] == "null_characters_not_allowed"
