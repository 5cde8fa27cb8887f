"""Per-client request throttling (429 with Retry-After, rendered as a problem)."""

from rest_framework.throttling import SimpleRateThrottle


def client_identity(request) -> str | None:
    """The identity that owns rate limits and idempotency keys: a token, else a user."""
    client = getattr(request, "auth", None)
    if getattr(client, "pk", None) is not None and hasattr(client, "token_hash"):
        return f"client:{client.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


class ClientRateThrottle(SimpleRateThrottle):
    scope = "client"

    def get_cache_key(self, request, view):
        ident = client_identity(request) or f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginRateThrottle(SimpleRateThrottle):
    """Password guessing is throttled per address, whoever it claims to be."""

    scope = "token_login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
