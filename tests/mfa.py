"""The second sign-in step in tests: a confirmed authenticator for a person, the code it
shows now, and a test client's session marked verified through django-otp's own `login()`
(the same call the verification screen makes), for tests that sign in with force_login."""

import time

from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from retailops.mfa import mfa_required_for


def authenticator_for(user) -> TOTPDevice:
    """The person's confirmed authenticator app (made on first use)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def code_now(device: TOTPDevice) -> str:
    """What the app shows: the current code, or the next one when the current one was
    just used (a TOTP code is accepted once, and the next step is within tolerance)."""
    device.refresh_from_db()
    step_now = int((time.time() - device.t0) // device.step)
    ahead = max(0, device.last_t + 1 - step_now)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, ahead):0{device.digits}d}"


def force_login_verified(client, user):
    """`client.force_login(user)`; for a person who must give a second factor (finance, ops
    admins, the admin's users), the session has given it, as after the code screen."""
    client.force_login(user)
    if not mfa_required_for(user):
        return client
    request = HttpRequest()
    request.session = client.session
    request.user = user
    otp_login(request, authenticator_for(user))
    request.session.save()
    return client
