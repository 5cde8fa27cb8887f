"""Domain errors: what a service raises when a business rule says no.

Services never build HTTP responses. They raise a `DomainError` subclass carrying a
stable machine-readable `code`; the one problem+json handler (`retailops.problems`)
turns it into a response, and staff views turn it into a message.
"""

from typing import Any


class DomainError(Exception):
    status = 409
    code = "conflict"
    title = "The request conflicts with the current state."
    # Seconds after which the same request may succeed (sent as `Retry-After`), if any.
    retry_after: int | None = None

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class InvalidState(DomainError):
    code = "invalid_state"
    title = "The object's state does not allow this action."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found."


class InvalidInput(DomainError):
    """Input that passed the serializer but breaks a rule only a service can check."""

    status = 400
    code = "invalid"
    title = "The request is invalid."

    def __init__(self, detail: str | None = None, *, code: str | None = None, field: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail, **extra)
        if code:
            self.code = code
        self.field = field


class LockTimeout(DomainError):
    """A row stayed locked longer than LOCK_TIMEOUT_MS: safe to retry."""

    status = 503
    code = "lock_timeout"
    title = "The data is busy; retry shortly."
    retry_after = 1
