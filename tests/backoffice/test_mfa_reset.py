"""A lost phone: an ops admin removes a person's authenticator and recovery codes, from the
admin or the command line, with a reason on record; the person enrols again."""

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.staff import staff_user_upsert
from retailops.models import SecondFactorEvent
from tests.mfa import authenticator_for, force_login_verified

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


@pytest.fixture
def fiona():
    return staff_user_upsert(username="fiona", role="finance", password=PASSWORD)


def test_an_ops_admin_resets_a_lost_authenticator_on_record(fiona):
    authenticator_for(fiona)
    olga = staff_user_upsert(username="olga", role="ops_admin", password=PASSWORD)

    call_command("reset_mfa", "fiona", "--reason", "lost phone", "--by", "olga")

    assert not TOTPDevice.objects.filter(user=fiona).exists()
    event = SecondFactorEvent.objects.get(user=fiona, kind="reset")
    assert (event.actor, event.reason) == (olga, "lost phone")
    client = Client()
    client.post("/login/", {"username": "fiona", "password": PASSWORD})
    assert client.get(client.get("/").url).url.startswith("/sign-in/authenticator/")  # enrols again


def test_the_admin_action_resets_with_a_reason(fiona):
    authenticator_for(fiona)
    olga = staff_user_upsert(username="olga", role="ops_admin", password=PASSWORD)
    admin = force_login_verified(Client(), olga)

    admin.post("/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [fiona.pk],
                                     "reason": "new phone"})

    assert not TOTPDevice.objects.filter(user=fiona).exists()
    assert SecondFactorEvent.objects.get(user=fiona, kind="reset").actor == olga


def test_the_reset_needs_a_reason(fiona):
    authenticator_for(fiona)
    olga = staff_user_upsert(username="olga", role="ops_admin", password=PASSWORD)
    admin = force_login_verified(Client(), olga)

    admin.post("/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [fiona.pk], "reason": ""})

    assert TOTPDevice.objects.filter(user=fiona).exists()
    assert not SecondFactorEvent.objects.filter(kind="reset").exists()


def test_ops_admins_read_the_second_factor_record_and_cannot_change_it(fiona):
    olga = staff_user_upsert(username="olga", role="ops_admin", password=PASSWORD)
    event = SecondFactorEvent.objects.create(user=fiona, kind="verified")
    admin = force_login_verified(Client(), olga)

    assert admin.get("/admin/retailops/secondfactorevent/").status_code == 200
    assert admin.post(f"/admin/retailops/secondfactorevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
