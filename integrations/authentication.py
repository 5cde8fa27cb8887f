"""`Authorization: Bearer <token>` for partner systems and staff personal tokens."""

import time
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from integrations.models import ApiClient, ExternalSystem
from integrations.tokens import hash_token
from retailops.sql import columns_of, execute, from_row

# last_used_at is written at most this often per token, not on every request.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            token = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        client = _client_by_token_hash(hash_token(token))
        now = timezone.now()
        if (
            client is None
            or client.revoked_at is not None
            or (client.expires_at is not None and client.expires_at <= now)
            or not client.user.is_active
        ):
            raise exceptions.AuthenticationFailed("The token is not valid.")
        if client.last_used_at is None or client.last_used_at < now - _LAST_USED_GRANULARITY:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            _recent_rows.pop(client.token_hash, None)  # the next request reads the new time
        return client.user, client

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


@cache
def _client_sql() -> str:
    user_model = get_user_model()
    parts = [columns_of(ApiClient, "c"), columns_of(user_model, "u"), columns_of(ExternalSystem, "s")]
    return (
        f"SELECT {', '.join(columns for _names, columns in parts)} "  # noqa: S608 (no user input)
        f"FROM {ApiClient._meta.db_table} c JOIN {user_model._meta.db_table} u ON u.id = c.user_id "
        f"LEFT JOIN {ExternalSystem._meta.db_table} s ON s.id = c.external_system_id WHERE c.token_hash = %s"
    )


# Rows of clients read in the last API_TOKEN_CACHE_SECONDS, by token hash, in this
# process: every API request authenticates, and most come from a few partners. Each
# request still checks revocation, expiry and the user on the row, and builds its own
# instances from it, so nothing mutable is shared between requests. A saved client or
# user empties it here at once (`forget_clients_on_save`); another process sees a change
# made elsewhere within the TTL. Unknown tokens are never remembered.
_recent_rows: dict[str, tuple[float, tuple]] = {}
_MOST_REMEMBERED = 1000


def forget_recent_clients() -> None:
    """Read every client afresh from the next request."""
    _recent_rows.clear()


def forget_clients_on_save(**kwargs) -> None:
    """A client, system or user was saved: forget now, and again once the saving
    transaction commits (a request in between could remember the row as it was)."""
    forget_recent_clients()
    transaction.on_commit(forget_recent_clients)


def _client_row(token_hash: str) -> tuple | None:
    remembered = _recent_rows.get(token_hash)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    rows = execute(_client_sql(), [token_hash])
    if not rows:
        return None
    (row,) = rows
    if settings.API_TOKEN_CACHE_SECONDS > 0:
        if len(_recent_rows) >= _MOST_REMEMBERED:
            _recent_rows.clear()
        _recent_rows[token_hash] = (time.monotonic() + settings.API_TOKEN_CACHE_SECONDS, row)
    return row


def _client_by_token_hash(token_hash: str) -> ApiClient | None:
    """The client with its user and system: one fixed query, or none while the row is
    remembered. Every API request asks."""
    row = _client_row(token_hash)
    if row is None:
        return None
    client_width, user_width = len(columns_of(ApiClient)[0]), len(columns_of(get_user_model())[0])
    client = from_row(ApiClient, row[:client_width])
    client.user = from_row(get_user_model(), row[client_width:client_width + user_width])
    system_row = row[client_width + user_width:]
    client.external_system = from_row(ExternalSystem, system_row) if system_row[0] is not None else None
    return client
