"""The one way a service runs in a transaction: `@in_retrying_transaction`.

A service that writes owns its transaction. Called on its own, it opens one; called from
another service, it runs in a savepoint of the caller's, so a caller may catch its domain
error and carry on. A service that is only ever one step of its callers' work (a ledger
posting) says `savepoint=False`: inside a caller's transaction it runs in it directly,
and if it fails the caller's transaction can only be rolled back (Django refuses any
further query in it), so nothing it half did can be kept.

Around the outermost transaction a deadlock or a serialization failure is retried a few
times, with a short backoff, before anyone sees it: PostgreSQL picked this transaction
as the victim, so running it again is safe. Inside a caller's transaction nothing is
retried (the caller's work would be lost); the error goes up to the outermost service,
which retries the whole.

Lock waits are bounded on every PostgreSQL connection (`lock_timeout`, from
LOCK_TIMEOUT_MS, set in `DATABASES["OPTIONS"]`): a lock held too long becomes
`LockTimeout` (503 `lock_timeout`), a clear error the client may retry, never a hung
request.
"""

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction

from retailops.errors import LockTimeout

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

MAX_ATTEMPTS = 4
_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure
_LOCK_NOT_AVAILABLE = "55P03"


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's `sqlstate`; SQLite has none)."""
    return getattr(exc.__cause__, "sqlstate", None)


def in_retrying_transaction(service: Callable[P, T] | None = None, *, savepoint: bool = True):
    """Run `service` in a transaction (inside another: a savepoint, or with
    `savepoint=False` the caller's transaction itself); retry deadlocks and serialization
    failures of the outermost one; turn a lock timeout into LockTimeout."""
    if service is None:
        return functools.partial(in_retrying_transaction, savepoint=savepoint)

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        outermost = not connection.in_atomic_block
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with transaction.atomic(savepoint=savepoint):
                    return service(*args, **kwargs)
            except OperationalError as exc:
                code = _sqlstate(exc)
                if code == _LOCK_NOT_AVAILABLE:
                    raise LockTimeout() from exc
                if outermost and code in _RETRYABLE and attempt < MAX_ATTEMPTS:
                    logger.warning("Retrying %s after %s (attempt %d)", service.__qualname__, code, attempt)
                    time.sleep(0.01 * 2**attempt)
                    continue
                raise
        raise AssertionError("unreachable")

    return run
