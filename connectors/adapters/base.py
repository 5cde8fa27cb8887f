"""The adapter protocol and the outcomes every adapter reports in the same terms."""

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    """The partner accepted the request (possibly as a replay of an earlier one)."""

    status_code: int
    replayed: bool = False


class DeliveryFailed(Exception):
    """The partner did not accept the request.

    `retryable`: sending the same request again later may succeed (timeouts, 5xx, 408,
    409 key-in-use); otherwise the request itself is wrong and only a person can fix it.
    """

    def __init__(self, message: str, *, retryable: bool = True, status_code: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


class Throttled(DeliveryFailed):
    """429: the partner is healthy but asks us to wait `retry_after` seconds (None: unsaid)."""

    def __init__(self, message: str, *, retry_after: float | None, status_code: int = 429):
        super().__init__(message, retryable=True, status_code=status_code)
        self.retry_after = retry_after


class NotSupported(Exception):
    """The adapter cannot do this (a CSV snapshot source takes no pushes, say)."""


@dataclass(frozen=True)
class SnapshotLine:
    sku: str
    location: str
    on_hand: int


@dataclass(frozen=True)
class Snapshot:
    as_of: datetime
    lines: list[SnapshotLine] = field(default_factory=list)


class Adapter(Protocol):
    def push_availability(self, items: list[dict], *, idempotency_key: str) -> Delivery: ...

    def post_document(self, document_type: str, document: dict, *, idempotency_key: str) -> Delivery: ...

    def fetch_snapshot(self) -> Snapshot: ...

    def close(self) -> None: ...


class CredentialsMissing(DeliveryFailed):
    def __init__(self, variable: str):
        super().__init__(f"The environment variable {variable} (the system's credentials) is not set.",
                         retryable=False)


def secret_from_environment(system) -> str | None:
    """The system's secret, read from the environment variable it names; None if it names none."""
    if not system.credentials_ref:
        return None
    secret = os.environ.get(system.credentials_ref)
    if not secret:
        raise CredentialsMissing(system.credentials_ref)
    return secret
