"""What every staff screen does with a service call: a domain error becomes a message in
the app's own layout, never an error page; success says what happened."""

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages

from retailops.errors import DomainError

T = TypeVar("T")


def act_and_report(request, work: Callable[[], T], *, done: str | Callable[[T], str], failed: str = "",
                   level: Callable[[T], int] | None = None) -> tuple[T | None, bool]:
    """Run `work`. A `DomainError` becomes an error message (`failed` then the error's
    detail); otherwise `done` (text, or made from the result) is added, at `level` (made
    from the result; success by default). Returns (the result or None, whether it ran)."""
    try:
        result = work()
    except DomainError as error:
        messages.error(request, f"{failed}{error.detail}")
        return None, False
    messages.add_message(request, level(result) if level else messages.SUCCESS,
                         done(result) if callable(done) else done)
    return result, True


def form_problems(form) -> str:
    """A form's errors in one sentence, for a message."""
    return " ".join(error for errors in form.errors.values() for error in errors)
