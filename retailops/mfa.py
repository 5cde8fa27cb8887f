"""The second sign-in step: a TOTP code from an authenticator app (django-otp), or a
one-time recovery code, after the password.

Who must give it: finance and ops admins (`MFA_ROLES`), anyone who can use the Django admin
(staff, superusers) and anyone who enrolled of their own accord. That is decided once, at
sign-in, and kept in the session, so other people's pages cost no extra query.

Where it is enforced: `SecondFactorRequiredMiddleware`, for every page, the admin and the
API alike. A session that owes its second factor reaches only the verification and
enrolment screens and the sign-out; a page sends it there (and back afterwards), an API
call with the session cookie is a 403 `mfa_required` problem. API calls with a bearer
token carry no session and are not touched.

Wrong codes are throttled per device by django-otp (each failure doubles the wait) and
count towards the sign-in lockout (django-axes) like a wrong password; every step is
recorded as a `SecondFactorEvent`.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect
from django_otp import devices_for_user, login, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from retailops.errors import InvalidInput
from retailops.models import SecondFactorEvent
from retailops.network import client_address
from retailops.problems import PROBLEM_CONTENT_TYPE, problem
from retailops.roles import Role, role_of
from retailops.sessions import return_to

MFA_ROLES = {Role.FINANCE, Role.OPS_ADMIN}
MFA_REQUIRED = "retailops.mfa_required"
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_CODES_NAME = "Recovery codes"
# A TOTP code is six digits; anything else typed on the screen is tried as a recovery code.
TOTP_DIGITS = 6


def mfa_required_for(user) -> bool:
    """Whether this person must give a second factor after the password."""
    return (user.is_superuser or user.is_staff or role_of(user) in MFA_ROLES
            or user_has_device(user, confirmed=True))


def mfa_session_begin(sender, request, user, **kwargs) -> None:
    """On sign-in (`user_logged_in`): note whether this session owes a second factor."""
    if request is not None and hasattr(request, "session"):
        request.session[MFA_REQUIRED] = mfa_required_for(user)


def second_factor_due(request) -> bool:
    """A signed-in session that must, and has not yet, given its second factor."""
    user = request.user
    if not user.is_authenticated:
        return False
    required = request.session.get(MFA_REQUIRED)
    if required is None:  # a session from before this step: decided now, once
        required = request.session[MFA_REQUIRED] = mfa_required_for(user)
    return required and not user.is_verified()


def authenticator_of(user) -> TOTPDevice | None:
    """The person's confirmed authenticator app, if they enrolled one."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def may_enrol(request) -> bool:
    """A person enrols a first authenticator, or replaces theirs from a verified session:
    the password alone never replaces an enrolled one."""
    return request.user.is_verified() or authenticator_of(request.user) is None


def _record(request, *, user, kind: str, actor=None, reason: str = "") -> None:
    SecondFactorEvent.objects.create(user=user, kind=kind, actor=actor, reason=reason,
                                     address=client_address(request) if request is not None else None)


@transaction.atomic
def mfa_enrolment_start(*, user) -> TOTPDevice:
    """The unconfirmed authenticator being enrolled (the same one until it is confirmed,
    so reloading the screen keeps the QR code the person may already have scanned)."""
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


@transaction.atomic
def mfa_enrolment_confirm(*, request, device: TOTPDevice, token: str) -> Enrolment | None:
    """The first code from the app proves it holds the secret: the device is confirmed and
    replaces any earlier one, a fresh set of recovery codes is made (shown once), and this
    session counts as verified. None (and a counted failure) when the code is wrong."""
    user = request.user
    if not may_enrol(request):
        raise PermissionDenied("Give a code from your current authenticator app first.")
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token(token.strip()):
        _session_refused(request)
        return None
    for other in devices_for_user(user, confirmed=None):
        if other != device:
            other.delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY_CODES_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.MFA_RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
    login(request, device)
    request.session[MFA_REQUIRED] = True
    _record(request, user=user, kind=SecondFactorEvent.Kind.ENROLLED)
    return Enrolment(device=device, recovery_codes=codes)


def _matching_device(user, token: str):
    """The person's device that accepts this code (used up by this: a TOTP step is accepted
    once, a recovery code once), with the kind of event it makes; (None, None) otherwise.
    Runs inside the caller's transaction, under a row lock on the candidates."""
    token = token.strip().replace(" ", "")
    if token.isdigit() and len(token) == TOTP_DIGITS:
        candidates = TOTPDevice.objects.devices_for_user(user, confirmed=True)
        kind = SecondFactorEvent.Kind.VERIFIED
    else:  # recovery codes are handed out in lower case
        candidates = StaticDevice.objects.devices_for_user(user, confirmed=True)
        kind, token = SecondFactorEvent.Kind.RECOVERY_CODE_USED, token.lower()
    device = next((device for device in candidates.select_for_update() if device.verify_token(token)), None)
    return (device, kind) if device is not None else (None, None)


def mfa_verify(*, request, token: str) -> bool:
    """Check a code from the authenticator app, or a recovery code (used up by this), for
    the signed-in person; on success this session counts as verified."""
    user = request.user
    with transaction.atomic():
        device, kind = _matching_device(user, token)
        if device is not None:
            login(request, device)
            _record(request, user=user, kind=kind)
            return True
    _session_refused(request)
    return False


def mfa_code_check(*, request, user, token: str) -> bool:
    """The second factor of a sign-in that keeps no session (the API token login): the same
    codes, the same throttling, the same record and lockout as the verification screen."""
    with transaction.atomic():
        device, kind = _matching_device(user, token)
        if device is not None:
            _record(request, user=user, kind=kind)
            return True
    _refused(request, user=user)
    return False


def _refused(request, *, user) -> None:
    """A wrong code: recorded, and counted by the sign-in lockout like a wrong password."""
    _record(request, user=user, kind=SecondFactorEvent.Kind.REFUSED)
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


def _session_refused(request) -> None:
    """A wrong code typed on a screen. When it locks the account, the half-signed-in session
    ends (django-axes' middleware then answers with the lockout page)."""
    _refused(request, user=request.user)
    if getattr(request, "axes_locked_out", False):
        logout(request)


@transaction.atomic
def mfa_reset(*, user, actor, reason: str) -> int:
    """Remove every authenticator and recovery code of a person (a lost phone): they enrol
    again at their next sign-in. Returns how many devices were removed."""
    if not reason.strip():
        raise InvalidInput("Say why the devices are reset.", code="reason_required", field="reason")
    devices = list(devices_for_user(user, confirmed=None))
    for device in devices:
        device.delete()
    _record(None, user=user, kind=SecondFactorEvent.Kind.RESET, actor=actor, reason=reason.strip())
    return len(devices)


MFA_REQUIRED_DETAIL = ("This account gives a second factor after its password: enter the code from your "
                       "authenticator app on the verification screen, then retry.")


def _bearer_call(request) -> bool:
    """An API call with its own bearer token: DRF authenticates it by the token, before and
    never falling back to the session."""
    return request.headers.get("Authorization", "").split(" ", 1)[0].lower() == "bearer"


class SecondFactorRequiredMiddleware:
    """The one guard: a session that owes its second factor goes to give it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if second_factor_due(request) and not self._open(request):
            return self._refuse(request)
        return self.get_response(request)

    @staticmethod
    def _open(request) -> bool:
        if request.path in (reverse("mfa_verify"), reverse("mfa_enrol"), reverse("logout")):
            return True
        if request.path.startswith(settings.STATIC_URL):
            return True
        return request.path.startswith("/api/") and _bearer_call(request)

    @staticmethod
    def _refuse(request):
        if request.path.startswith("/api/"):
            return JsonResponse(problem(403, "mfa_required", MFA_REQUIRED_DETAIL), status=403,
                                content_type=PROBLEM_CONTENT_TYPE)
        url = f"{reverse('mfa_verify')}?{urlencode({'next': return_to(request)})}"
        if request.htmx:  # a fragment request: the whole page goes to the verification
            return HttpResponseClientRedirect(url)
        return redirect(url)
