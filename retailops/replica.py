"""Reads from the read replica (DATABASE_REPLICA_URL; README "Read replica").

Everything goes to the primary (`default`) except reads that opt in with `replica_reads()`:
the availability API, the dashboard and the streamed CSV exports. Even those stay on the
primary when

- the caller wrote recently: a client whose last unsafe request (POST, PUT, PATCH, DELETE)
  succeeded less than REPLICA_PIN_SECONDS ago reads from the primary (read-your-writes;
  `ReadYourWritesMiddleware` pins a staff session in the session, an API token in the
  cache), an unsafe request itself never reads from the replica, and a read that follows a
  write inside the same `replica_reads()` goes to the primary;
- the read is inside a transaction on the primary (it must see that transaction's writes);
- the replica is further behind than REPLICA_MAX_LAG_SECONDS, or cannot be reached.

How far behind the replica is: the primary's WAL flush position is read first, then the
replica's replay position. A replica that has replayed up to it is current (lag 0), however
long ago the last transaction was: an idle primary writes nothing, and the age of the last
replayed transaction (`now() - pg_last_xact_replay_timestamp()`) alone would call an
up-to-date replica stale. A replica that is behind is as stale as the age of the last
transaction it replayed: everything it misses came later, so that age bounds the lag from
above (after a long idle spell the first write briefly counts as a large lag, which only
sends reads to the primary for a moment). The answer is kept for REPLICA_LAG_CHECK_SECONDS
per process, and an unreachable replica is tried again five times as late.
"""

import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.utils import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

REPLICA = "replica"
# The apps whose tables the replica serves. Sign-in, sessions, permissions and the
# request-safety tables (idempotency keys, lockouts) are always read on the primary.
REPLICA_APPS = frozenset({
    "exceptions", "integrations", "inventory", "orders", "returns", "receiving", "reconciliation", "casework",
    "connectors", "backoffice",
})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SESSION_PIN = "replica_pinned_until"
_UNREACHABLE_BACKOFF = 5


@dataclass
class _Reads:
    primary: bool  # this caller wrote recently: read-your-writes
    wrote: bool = False  # a write went to the primary inside this scope
    used_replica: bool = False


_reads: ContextVar[_Reads | None] = ContextVar("replica_reads", default=None)
_request: ContextVar = ContextVar("replica_request", default=None)


@dataclass(frozen=True)
class _Measure:
    at: float
    lag: float | None  # seconds; None: the replica could not be asked


_last_measure = _Measure(at=float("-inf"), lag=None)


def replica_enabled() -> bool:
    return settings.REPLICA_READS and REPLICA in settings.DATABASES


class replica_reads:  # lower-case: used like contextlib's context managers
    """Opt a read in: `with replica_reads(): …`, or `@replica_reads()` on a view (or an API
    view's method), which also covers a streamed response's body and, if the replica fails
    half-way, runs the view again on the primary."""

    def __init__(self):
        self._token = None

    def __enter__(self):
        self._token = _reads.set(_Reads(primary=_pinned(_request.get())))
        return self

    def __exit__(self, *exc_info):
        _reads.reset(self._token)

    def __call__(self, view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            scope = _Reads(primary=_pinned(_request.get()))
            try:
                response = _within(scope, view, args, kwargs)
            except (OperationalError, InterfaceError):
                if not scope.used_replica:
                    raise
                logger.warning("The replica failed during a read; reading from the primary", exc_info=True)
                _measured(None)
                scope = _Reads(primary=True)
                response = _within(scope, view, args, kwargs)
            if getattr(response, "streaming", False):
                response.streaming_content = _streamed(scope, response.streaming_content)
            return response

        return wrapped


def _within(scope: _Reads, function, args, kwargs):
    token = _reads.set(scope)
    try:
        return function(*args, **kwargs)
    finally:
        _reads.reset(token)


def _streamed(scope: _Reads, chunks) -> Iterator:
    """Each chunk of a streamed body is produced under the view's scope (the body runs after
    the view returned, outside it)."""
    chunks = iter(chunks)
    while True:
        token = _reads.set(scope)
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        finally:
            _reads.reset(token)
        yield chunk


# --- Read-your-writes ---------------------------------------------------------------------


def _client_pin_key(client_pk) -> str:
    return f"replica:pinned:client:{client_pk}"


def _pinned(request) -> bool:
    """Whether this request must read from the primary: it writes, or its client wrote
    within REPLICA_PIN_SECONDS."""
    if request is None:
        return False
    if request.method in _UNSAFE_METHODS:
        return True
    client = getattr(request, "auth", None)
    if client is not None and getattr(client, "pk", None) is not None:
        return bool(cache.get(_client_pin_key(client.pk)))
    session = getattr(request, "session", None)
    return session is not None and session.get(_SESSION_PIN, 0) > time.time()


def _pin(request) -> None:
    window = settings.REPLICA_PIN_SECONDS
    client = getattr(request, "auth", None)
    if client is not None and getattr(client, "pk", None) is not None:
        cache.set(_client_pin_key(client.pk), True, timeout=window)
        return
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if session is not None and user is not None and user.is_authenticated:
        session[_SESSION_PIN] = time.time() + window


class ReadYourWritesMiddleware:
    """Keeps the request where `replica_reads()` finds it, and after a successful unsafe
    request pins its client (API token, or else staff session) to the primary for
    REPLICA_PIN_SECONDS. Below the session and authentication middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if request.method in _UNSAFE_METHODS and response.status_code < 400 and replica_enabled():
            _pin(request)
        return response


# --- Staleness ---------------------------------------------------------------------------


def replica_lag_seconds() -> float | None:
    """How far behind the primary the replica is, in seconds (0: it has replayed all the
    primary has flushed); None when it cannot be asked or is not a standby."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_flush_lsn()::text")
            (primary_position,) = cursor.fetchone()
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn,"
                " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())",
                [primary_position],
            )
            standby, caught_up, since_last_replayed = cursor.fetchone()
    except DatabaseError:
        logger.warning("The replica cannot be reached; reading from the primary", exc_info=True)
        return None
    if not standby:
        logger.warning("The replica database is not a standby server; reading from the primary")
        return None
    if caught_up:
        return 0.0
    return float(since_last_replayed) if since_last_replayed is not None else float("inf")


def _measured(lag: float | None) -> None:
    global _last_measure
    _last_measure = _Measure(at=time.monotonic(), lag=lag)


def replica_fresh() -> bool:
    """Whether the replica is within REPLICA_MAX_LAG_SECONDS of the primary (measured at
    most every REPLICA_LAG_CHECK_SECONDS in this process)."""
    measure = _last_measure
    interval = settings.REPLICA_LAG_CHECK_SECONDS * (1 if measure.lag is not None else _UNREACHABLE_BACKOFF)
    if time.monotonic() - measure.at >= interval:
        lag = replica_lag_seconds()
        _measured(lag)
        if lag is not None and lag > settings.REPLICA_MAX_LAG_SECONDS:
            logger.warning("The replica is %.1f s behind (bound %s s); reading from the primary", lag,
                           settings.REPLICA_MAX_LAG_SECONDS)
        measure = _last_measure
    return measure.lag is not None and measure.lag <= settings.REPLICA_MAX_LAG_SECONDS


# --- The router ----------------------------------------------------------------------------


class ReplicaRouter:
    """DATABASE_ROUTERS: writes and ordinary reads on the primary; opted-in reads on the
    replica when it is fresh enough and the caller has not written recently."""

    def db_for_read(self, model, **hints):
        scope = _reads.get()
        if (
            scope is None
            or scope.primary
            or scope.wrote
            or not replica_enabled()
            or model._meta.app_label not in REPLICA_APPS
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
            or not replica_fresh()
        ):
            return DEFAULT_DB_ALIAS
        scope.used_replica = True
        return REPLICA

    def db_for_write(self, model, **hints):
        scope = _reads.get()
        if scope is not None:
            scope.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the primary's rows: an object read from one may point at one from the other.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None
