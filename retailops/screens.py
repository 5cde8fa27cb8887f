"""What every staff screen does with a service call: a domain error becomes a message in
the app's own layout, never an error page; success says what happened. And what every
screen does with input no field can hold: a NUL character is refused, with a message in
the same layout, before any view or database sees it."""

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.shortcuts import render

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


NUL_REFUSED = ("The request contained a NUL character, which no field accepts (it usually comes from a "
               "pasted binary file); nothing was changed.")


def _carries_nul(request) -> bool:
    if "\x00" in request.path:
        return True
    for data in (request.GET, request.POST):
        for key, values in data.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return True
    return False


class RefuseNulCharactersMiddleware:
    """Staff screens (everything outside /api/, which answers for itself, field by field):
    a NUL character in the path, the query string or a form field is a 400 page in the
    app's layout. PostgreSQL stores no NUL, so it would otherwise be a 500 wherever a
    screen reads a value without a form."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/") and _carries_nul(request):
            messages.error(request, NUL_REFUSED)
            return render(request, "400.html", status=400)
        return self.get_response(request)
