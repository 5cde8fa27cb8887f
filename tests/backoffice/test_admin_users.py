"""Ops admins manage staff accounts in the Django admin: the user, their one role and the
stores they work at, through the same service as create_staff_user, and nothing more."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backoffice.staff import staff_user_upsert
from connectors.clients import partner_client_issue
from retailops.access import location_scope_for_user
from tests.inventory.factories import LocationFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db

User = get_user_model()
USERS = "/admin/auth/user/"


@pytest.fixture
def stores(db):
    return [LocationFactory(code=code) for code in ("S001", "S002", "S003")]


@pytest.fixture
def ops_admin(db):
    client = Client(raise_request_exception=False)
    force_login_verified(client, staff_user_upsert(username="olga", role="ops_admin", password="pw-for-tests-1"))
    return client


def new_user(**overrides) -> dict:
    return {"username": "sam", "usable_password": "true", "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9", "role": "store_ops", **overrides}


def test_ops_admin_adds_a_store_user_with_their_stores(ops_admin, stores):
    index = ops_admin.get("/admin/")
    response = ops_admin.post(f"{USERS}add/", new_user(locations=[stores[0].pk, stores[1].pk]))

    assert USERS in index.content.decode()
    assert response.status_code == 302, response.content.decode()[:3000]
    sam = User.objects.get(username="sam")
    assert [group.name for group in sam.groups.all()] == ["store_ops"]
    assert location_scope_for_user(sam).location_ids == frozenset({stores[0].pk, stores[1].pk})
    assert sam.check_password("a-long-passphrase-9")
    assert not (sam.is_staff or sam.is_superuser)


def test_ops_admin_changes_a_users_role_and_stores(ops_admin, stores):
    sam = staff_user_upsert(username="sam", role="store_ops", password="pw-for-tests-1",
                            location_codes=["S001"])
    page = ops_admin.get(f"{USERS}{sam.pk}/change/")
    form = page.context["adminform"].form
    assert (form["role"].value(), list(form["locations"].value())) == ("store_ops", [stores[0].pk])

    moved = ops_admin.post(f"{USERS}{sam.pk}/change/", {
        "username": "sam", "is_active": "on", "role": "store_ops", "locations": [stores[2].pk],
        "is_superuser": "on", "is_staff": "on",  # not fields of this form: ignored
    })
    assert moved.status_code == 302, moved.content.decode()[:3000]
    sam.refresh_from_db()
    assert location_scope_for_user(sam).location_ids == frozenset({stores[2].pk})
    assert not (sam.is_superuser or sam.is_staff)

    promoted = ops_admin.post(f"{USERS}{sam.pk}/change/", {"username": "sam", "is_active": "on",
                                                          "role": "ops_admin"})
    assert promoted.status_code == 302
    sam = User.objects.get(pk=sam.pk)  # a fresh copy: permissions are cached on the instance
    assert [group.name for group in sam.groups.all()] == ["ops_admin"]
    assert sam.is_staff and location_scope_for_user(sam).is_all


def test_ops_admin_deactivates_a_user(ops_admin, stores):
    sam = staff_user_upsert(username="sam", role="finance", password="pw-for-tests-1")
    ops_admin.post(f"{USERS}{sam.pk}/change/", {"username": "sam", "role": "finance"})
    sam.refresh_from_db()
    assert not sam.is_active


def test_a_common_password_is_refused_in_the_admin_too(ops_admin, stores):
    response = ops_admin.post(f"{USERS}add/", new_user(password1="password123", password2="password123"))

    assert response.status_code == 200
    assert "too common" in response.content.decode()
    assert not User.objects.filter(username="sam").exists()


def test_ops_admin_cannot_change_a_superuser_or_see_partner_service_users(ops_admin, stores):
    root = User.objects.create_superuser(username="root", password="pw-for-tests-1")
    partner_client_issue(system_code="erp-1", kind="erp")

    changed = ops_admin.post(f"{USERS}{root.pk}/change/", {"username": "root2", "role": "finance"})
    password = ops_admin.post(f"{USERS}{root.pk}/password/", {"password1": "a-long-passphrase-9",
                                                             "password2": "a-long-passphrase-9"})
    listed = ops_admin.get(USERS).content.decode()

    assert (changed.status_code, password.status_code) == (403, 403)
    root.refresh_from_db()
    assert (root.username, root.check_password("pw-for-tests-1"), root.groups.count()) == ("root", True, 0)
    assert "system:erp-1" not in listed and "olga" in listed


def test_roles_themselves_are_read_only_for_ops_admin(ops_admin):
    assert ops_admin.get("/admin/auth/group/").status_code == 200
    assert ops_admin.get("/admin/auth/group/add/").status_code == 403
    assert ops_admin.get(f"{USERS}add/").status_code == 200


def test_a_store_user_has_no_admin(stores):
    client = Client()
    force_login_verified(client, staff_user_upsert(username="sam", role="store_ops", password="pw-for-tests-1",
                                         location_codes=["S001"]))
    assert client.get(USERS).status_code == 302  # to the admin's login page
