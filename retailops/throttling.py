"""Per-client request throttling (429 with Retry-After, rendered as a problem)."""

import math

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


class SlidingWindowRateThrottle(SimpleRateThrottle):
    """DRF's rates ("3000/min"), settings and cache, at a constant cost per request.

    SimpleRateThrottle keeps the time of every request in the window and reads and writes
    that whole list through the cache on each request: a partner allowed 3,000 a minute
    moves a 3,000-entry list to and from Redis every time. Here an identity has one
    counter per fixed window, incremented atomically, and a request is allowed while the
    sliding window's estimate stays under the rate: this window's count plus the previous
    window's, weighted by how much of it the sliding window still covers. Refused
    requests are not counted, as with DRF; as with DRF, requests checked at the same
    instant may each see room for one more (the check and the increment are two steps)."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window, self.into = divmod(now, self.duration)
        current_key, previous_key = f"{self.key}:{int(window)}", f"{self.key}:{int(window) - 1}"
        counts = self.cache.get_many([current_key, previous_key])
        self.current, self.previous = counts.get(current_key, 0), counts.get(previous_key, 0)
        if self.previous * (1 - self.into / self.duration) + self.current >= self.num_requests:
            return False
        if not self.cache.add(current_key, 1, timeout=2 * self.duration):
            try:
                self.cache.incr(current_key)
            except ValueError:  # it expired between add and incr
                self.cache.add(current_key, 1, timeout=2 * self.duration)
        return True

    def wait(self) -> int:
        """Whole seconds until the estimate drops under the rate, if nothing more comes."""
        limit, duration = self.num_requests, self.duration
        if self.previous and self.current < limit:  # the previous window's weight fades first
            seconds = duration * (1 - (limit - self.current) / self.previous) - self.into
        else:  # then this window's, once it is the previous one
            seconds = duration - self.into + duration * (1 - limit / max(self.current, limit))
        return max(1, math.ceil(seconds))


class ClientRateThrottle(SlidingWindowRateThrottle):
    scope = "client"

    def get_cache_key(self, request, view):
        ident = client_identity(request) or f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginRateThrottle(SlidingWindowRateThrottle):
    """Password guessing is throttled per address, whoever it claims to be."""

    scope = "token_login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
