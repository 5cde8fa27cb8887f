"""problem+json (RFC 9457) for every API error, in one place.

Every error the API returns has the same shape:

    {"type": "urn:problem:retailops:insufficient_stock", "title": "...", "status": 409,
     "detail": "...", "code": "insufficient_stock", "errors": [{"field", "code", "message"}]}

`code` is machine-readable and stable within v1. Partners branch on it; the titles and
details are for people.
"""

import logging
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views import defaults as django_defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from retailops.errors import DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# DRF's exception classes → our stable codes. Anything not listed keeps DRF's own code.
_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(status: int, code: str, detail: str, *, title: str | None = None,
            errors: list[dict] | None = None, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "type": f"urn:problem:retailops:{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(status: int, code: str, detail: str, *, headers: dict | None = None,
                     **kwargs: Any) -> Response:
    return Response(problem(status, code, detail, **kwargs), status=status, headers=headers,
                    content_type=PROBLEM_CONTENT_TYPE)


def flatten_errors(detail: Any, path: str = "") -> Iterator[dict]:
    """Turn DRF's nested error tree into a flat list with `lines[0].quantity` paths."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                child = path
            elif isinstance(key, int):  # DRF ≥ 3.16 reports list items by index
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            yield from flatten_errors(value, child)
    elif isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) or isinstance(item, str) for item in detail):
            for item in detail:
                yield {"field": path or None, "code": getattr(item, "code", "invalid"), "message": str(item)}
        else:
            for index, item in enumerate(detail):
                if item:  # DRF puts {} for list items without errors
                    yield from flatten_errors(item, f"{path}[{index}]")
    else:
        yield {"field": path or None, "code": getattr(detail, "code", "invalid"), "message": str(detail)}


def _validation_problem(detail: Any) -> Response:
    errors = list(flatten_errors(detail))
    code = errors[0]["code"] if errors else "validation_error"
    message = errors[0]["message"] if len(errors) == 1 else "The request has invalid fields."
    return problem_response(400, code, message, errors=errors)


def problem_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF EXCEPTION_HANDLER: every exception raised in an API view becomes a problem."""
    if isinstance(exc, DomainError):
        set_rollback()
        extra = dict(exc.extra)
        field = getattr(exc, "field", None)
        errors = [{"field": field, "code": exc.code, "message": exc.detail}] if field else None
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return problem_response(exc.status, exc.code, exc.detail, title=exc.title, errors=errors, headers=headers,
                                **extra)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exceptions.as_serializer_error(exc))
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return problem_response(400, "payload_too_large", "The request is larger than the API accepts.")
    elif isinstance(exc, SuspiciousOperation):  # what Django answers with 400 outside DRF
        return problem_response(400, "bad_request", "The request could not be read.")

    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return _validation_problem(exc.detail)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = _CODES.get(type(exc), exc.default_code)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem_response(exc.status_code, code, detail, headers=headers)

    logger.exception("Unhandled API error", exc_info=exc)
    set_rollback()
    return problem_response(500, "server_error", "Something went wrong on our side; it has been logged.")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any address under /api/ that names no endpoint, in every mode (under DEBUG too,
    where Django would answer its HTML page): the URL map's last pattern there."""
    return JsonResponse(problem(404, "not_found", "No such endpoint."), status=404,
                        content_type=PROBLEM_CONTENT_TYPE)


def page_not_found(request: HttpRequest, exception: Exception) -> Any:
    if _is_api(request):
        return api_not_found(request)
    return django_defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> Any:
    if _is_api(request):
        return JsonResponse(problem(500, "server_error", "Something went wrong on our side; it has been logged."),
                            status=500, content_type=PROBLEM_CONTENT_TYPE)
    return django_defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> Any:
    if _is_api(request):
        code = "payload_too_large" if isinstance(exception, RequestDataTooBig | TooManyFieldsSent) else "bad_request"
        return JsonResponse(problem(400, code, "The request could not be read."), status=400,
                            content_type=PROBLEM_CONTENT_TYPE)
    return django_defaults.bad_request(request, exception)
