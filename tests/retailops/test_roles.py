"""Roles are groups with model permissions; store scope is an object permission."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from retailops.access import location_scope_for_user
from retailops.roles import ROLE_PERMISSIONS, Role
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


def test_every_role_is_a_group_with_exactly_its_permissions():
    for role in Role:
        group = Group.objects.get(name=role.value)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert granted == set(ROLE_PERMISSIONS[role])


def test_only_ops_admin_changes_master_data():
    writers = {role for role, perms in ROLE_PERMISSIONS.items() if "inventory.change_sku" in perms}
    assert writers == {Role.OPS_ADMIN}


def test_create_staff_user_gives_one_role_and_the_stores(django_user_model):
    s1, s2 = LocationFactory(code="S001"), LocationFactory(code="S002")
    LocationFactory(code="S003")
    out = StringIO()
    call_command("create_staff_user", "sam", "--role", "store_ops", "--password", "pw-1-secret",
                 "--locations", "S001,S002", stdout=out)

    user = django_user_model.objects.get(username="sam")
    assert [group.name for group in user.groups.all()] == ["store_ops"]
    assert user.check_password("pw-1-secret")
    assert not user.is_staff
    assert location_scope_for_user(user).location_ids == frozenset({s1.pk, s2.pk})


def test_create_staff_user_again_replaces_role_and_stores(django_user_model):
    LocationFactory(code="S001")
    call_command("create_staff_user", "sam", "--role", "store_ops", "--password", "pw-1-secret", "--locations", "S001",
                 stdout=StringIO())
    call_command("create_staff_user", "sam", "--role", "ops_admin", "--password", "pw-1-secret", stdout=StringIO())

    user = django_user_model.objects.get(username="sam")
    assert [group.name for group in user.groups.all()] == ["ops_admin"]
    assert user.is_staff  # ops admins use the Django admin for master data
    assert location_scope_for_user(user).is_all


@pytest.mark.parametrize(("password", "reason"), [
    ("password123", "too common"),
    ("12345678901", "entirely numeric"),
    ("short-1", "too short"),
    ("sam.smith.ops", "too similar"),
])
def test_create_staff_user_refuses_a_password_the_validators_refuse(django_user_model, password, reason):
    with pytest.raises(CommandError, match=reason):
        call_command("create_staff_user", "sam.smith", "--role", "finance", "--password", password,
                     stdout=StringIO())
    assert not django_user_model.objects.filter(username="sam.smith").exists()


def test_a_refused_password_leaves_an_existing_user_as_they_were(django_user_model):
    call_command("create_staff_user", "sam", "--role", "finance", "--password", "pw-1-secret", stdout=StringIO())
    with pytest.raises(CommandError, match="too common"):
        call_command("create_staff_user", "sam", "--role", "ops_admin", "--password", "qwerty123",
                     stdout=StringIO())

    user = django_user_model.objects.get(username="sam")
    assert user.check_password("pw-1-secret")
    assert [group.name for group in user.groups.all()] == ["finance"]


def test_create_staff_user_refuses_unknown_locations():
    with pytest.raises(CommandError, match="Unknown locations"):
        call_command("create_staff_user", "sam", "--role", "store_ops", "--password", "pw-1-secret",
                     "--locations", "NOWHERE", stdout=StringIO())


def test_store_user_without_stores_sees_no_location(django_user_model):
    LocationFactory(code="S001")
    call_command("create_staff_user", "sam", "--role", "store_ops", "--password", "pw-1-secret", stdout=StringIO())
    assert location_scope_for_user(django_user_model.objects.get(username="sam")).location_ids == frozenset()


@pytest.mark.parametrize("role", [Role.INVENTORY_CONTROL, Role.FINANCE, Role.INTEGRATION_SUPPORT, Role.OPS_ADMIN])
def test_central_roles_see_every_location(role, staff_api):
    assert location_scope_for_user(staff_api(role).user).is_all
