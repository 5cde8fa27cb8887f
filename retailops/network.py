"""Where a request comes from.

Proxy headers are trusted only from the proxies the deployment says are in front of the
app: `TRUSTED_PROXY_COUNT` (DRF's `NUM_PROXIES`). With none, the address is the socket's
peer and `X-Forwarded-For` is ignored, so a client cannot pick its own address by writing
a header. Every throttle (DRF's `get_ident`) and the sign-in lockout read it here.
"""

from rest_framework.throttling import BaseThrottle


def client_address(request) -> str:
    """The client's address, read through the trusted proxies only (DRF's rule)."""
    return BaseThrottle().get_ident(request)
