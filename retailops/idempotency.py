"""`Idempotency-Key` for every POST, exactly as API.md promises.

Same key + same body → the original status and body again, with `Idempotent-Replayed:
true`, and no second effect. Same key + different body → 422 `idempotency_key_reused`.
Same key while the first request still runs → 409 `idempotency_key_in_use`. Keys belong
to one client (token or staff user) and are kept IDEMPOTENCY_KEY_TTL_HOURS.

How exactly-once holds:
1. The key row is inserted and committed before the view runs; the unique constraint on
   (client, key) decides which of two racing requests owns it.
2. The view runs inside one transaction that also stores the response on the key row.
   So the effect and the stored response commit together or not at all: a crash in
   between leaves an `in_progress` row and no effect, and after IDEMPOTENCY_LOCK_SECONDS
   a retry takes the key over and runs the request once.
3. 5xx responses are not stored: the key is released so the client can simply retry.
"""

import functools
import hashlib
import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from retailops.errors import DomainError, InvalidInput
from retailops.models import IdempotencyRecord
from retailops.throttling import client_identity

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_REPLAYED_HEADERS = ("Location",)


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was already used with a different request."


class IdempotencyKeyInUse(DomainError):
    status = 409
    code = "idempotency_key_in_use"
    title = "A request with this Idempotency-Key is still being processed; retry later."


class _DiscardResponse(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _canonical(value: Any) -> Any:
    if hasattr(value, "lists"):  # QueryDict from a form or multipart body
        return {key: [_canonical(item) for item in items] for key, items in value.lists()}
    if hasattr(value, "chunks"):  # an uploaded file
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return f"file:{digest.hexdigest()}"
    return value


def request_fingerprint(request) -> str:
    """What makes two requests "the same": method, path and the parsed body."""
    body = json.dumps(_canonical(request.data), sort_keys=True, separators=(",", ":"), default=str)
    material = f"{request.method}\n{request.path}\n{body}".encode()
    return hashlib.sha256(material).hexdigest()


def _claim(*, client_key: str, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """Own the key (returns the row) or answer from it (returns the stored response)."""
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    client_key=client_key,
                    key=key,
                    request_fingerprint=fingerprint,
                    locked_at=now,
                    expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(client_key=client_key, key=key).first()
        if existing is None:  # released or purged between our insert and this read
            continue
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if existing.status == IdempotencyRecord.Status.COMPLETED:
            return _replay(existing)
        abandoned_before = now - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
        if existing.locked_at < abandoned_before:
            taken_over = IdempotencyRecord.objects.filter(
                pk=existing.pk, status=IdempotencyRecord.Status.IN_PROGRESS, locked_at=existing.locked_at
            ).update(locked_at=now)
            if taken_over:
                return existing
        raise IdempotencyKeyInUse()
    raise IdempotencyKeyInUse()


def _replay(record: IdempotencyRecord) -> Response:
    headers = dict(record.response_headers)
    content_type = headers.pop("Content-Type", None)
    headers[REPLAYED_HEADER] = "true"
    return Response(record.response_body, status=record.response_status, headers=headers,
                    content_type=content_type)


def idempotent(view_method):
    """Decorate a DRF view's `post` so that its `Idempotency-Key` is honoured.

    It runs after authentication, permissions and throttling (inside the handler), so
    the key is scoped to the authenticated client and a refused request stores nothing.
    """

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        client_key = client_identity(request)
        if key is None or client_key is None:
            return view_method(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH or "\x00" in key:
            raise InvalidInput(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters, none of them NUL.",
                               code="invalid_idempotency_key", field=HEADER)

        claimed = _claim(client_key=client_key, key=key, fingerprint=request_fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        try:
            with transaction.atomic():
                try:
                    response = view_method(view, request, *args, **kwargs)
                except Exception as exc:  # rendered exactly as the view would have been
                    response = view.handle_exception(exc)
                if response.status_code >= 500:
                    raise _DiscardResponse(response)
                headers = {name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)}
                if response.content_type:
                    headers["Content-Type"] = response.content_type
                IdempotencyRecord.objects.filter(pk=claimed.pk).update(
                    status=IdempotencyRecord.Status.COMPLETED,
                    response_status=response.status_code,
                    response_body=response.data,
                    response_headers=headers,
                )
        except _DiscardResponse as discarded:
            IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
            return discarded.response
        return response

    return wrapper


def idempotency_purge_expired(*, batch_size: int = 5000) -> int:
    """Delete expired keys in bounded batches; returns how many went."""
    deleted = 0
    now = timezone.now()
    while True:
        ids = list(IdempotencyRecord.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
