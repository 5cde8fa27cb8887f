"""How long a staff session lasts, and how recently its person proved who they are.

A session ends after SESSION_IDLE_TIMEOUT without a request, and in any case
SESSION_ABSOLUTE_TIMEOUT after its sign-in; the person is sent back to the sign-in page with
a message saying why, and returns where they were (`next`) afterwards. Sign-in time, last
activity and the last time the password was typed are stamped in the session itself.

Token-authenticated API calls carry no session and are untouched. A browser call to the API
whose session has ended simply goes on unauthenticated (401/403 from the API), without a
redirect.
"""

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication

SIGNED_IN_AT = "retailops.signed_in_at"
LAST_SEEN_AT = "retailops.last_seen_at"
PASSWORD_CONFIRMED_AT = "retailops.password_confirmed_at"
# Last activity is written back at most this often, not on every request (one session
# write a minute instead of one per page): the idle timeout is exact to within it.
ACTIVITY_RESOLUTION = timedelta(minutes=1)


def _now() -> float:
    return timezone.now().timestamp()


def session_begin(sender, request, user, **kwargs) -> None:
    """On sign-in (`user_logged_in`): the session starts now, with the password just typed."""
    now = _now()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN_AT] = now
    request.session[PASSWORD_CONFIRMED_AT] = now


def password_confirmed(request) -> None:
    """The person typed their password again (the confirmation screen)."""
    request.session[PASSWORD_CONFIRMED_AT] = _now()


def password_confirmation_due(request) -> bool:
    """Whether a sensitive action must first ask for the password again: the request rides
    on a browser session (a screen, or the API called with the session cookie) whose
    password was not typed within PASSWORD_CONFIRM_TIMEOUT. A token-authenticated API call
    has no session to ask in and is never held up here."""
    authenticator = getattr(request, "successful_authenticator", None)  # set on DRF requests
    if authenticator is not None and not isinstance(authenticator, SessionAuthentication):
        return False
    confirmed = request.session.get(PASSWORD_CONFIRMED_AT)
    return confirmed is None or _now() - confirmed > settings.PASSWORD_CONFIRM_TIMEOUT.total_seconds()


def password_confirmation_redirect(request, *, then: str, why: str):
    """Send a screen's user to type their password again, and back to `then` afterwards."""
    messages.info(request, why)
    return redirect(f"{reverse('confirm_password')}?{urlencode({'next': then})}")


class PasswordConfirmationRequired(exceptions.PermissionDenied):
    """The API's answer when a browser session must confirm the password first."""

    default_code = "password_confirmation_required"
    default_detail = "Type your password again on the confirmation screen, then retry within a few minutes."


def safe_next(request, candidate: str) -> str:
    """`candidate` when it points into this site, else the home page."""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return settings.LOGIN_REDIRECT_URL


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _why_ended(session, now: float) -> str | None:
    signed_in = session.setdefault(SIGNED_IN_AT, now)  # a session from before these stamps starts now
    last_seen = session.setdefault(LAST_SEEN_AT, now)
    if now - signed_in > settings.SESSION_ABSOLUTE_TIMEOUT.total_seconds():
        return (f"Your session reached its limit of {_minutes(settings.SESSION_ABSOLUTE_TIMEOUT)}. "
                "Sign in again to carry on.")
    if now - last_seen > settings.SESSION_IDLE_TIMEOUT.total_seconds():
        return (f"You were signed out after {_minutes(settings.SESSION_IDLE_TIMEOUT)} without activity. "
                "Sign in again to carry on.")
    return None


def return_to(request) -> str:
    """Where to come back after signing in: this page, or for a form sent from a page, that page."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    return safe_next(request, request.headers.get("Referer", ""))


class SessionLifetimeMiddleware:
    """Ends a signed-in session that was idle too long or has lived too long."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = _now()
            why = _why_ended(request.session, now)
            if why is not None:
                return self._ended(request, why)
            if now - request.session[LAST_SEEN_AT] >= ACTIVITY_RESOLUTION.total_seconds():
                request.session[LAST_SEEN_AT] = now
        return self.get_response(request)

    def _ended(self, request, why: str):
        back_to = return_to(request)
        logout(request)
        if request.path.startswith("/api/"):
            return self.get_response(request)
        messages.info(request, why)
        response = redirect_to_login(back_to)
        if request.htmx:  # a fragment request: the whole page goes to the sign-in
            return HttpResponseClientRedirect(response.url)
        return response


class SignedInPagesNotStoredMiddleware:
    """Every response to a signed-in session says `Cache-Control: no-store` (with Django's
    never-cache set), so stock, money and names stay out of the browser's and any proxy's
    cache, and Back after signing out shows nothing. Static files (WhiteNoise answers them
    before the session is read) and anonymous calls such as the health checks are left
    cacheable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        signed_in = request.user.is_authenticated
        response = self.get_response(request)
        if signed_in or request.user.is_authenticated:  # before, or after signing in on this request
            add_never_cache_headers(response)
        return response
