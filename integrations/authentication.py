"""`Authorization: Bearer <token>` for partner systems and staff personal tokens."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from integrations.models import ApiClient
from integrations.tokens import hash_token

# last_used_at is written at most this often per token, not on every request.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """The client whose token hash matches, with its user and system: one query on the
    unique token index, on every request, so a revoked token, a narrowed scope, a
    deactivated user or a disabled system counts from the next request in every process."""

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
        try:
            client = ApiClient.objects.select_related("user", "external_system").get(token_hash=hash_token(token))
        except ApiClient.DoesNotExist:
            client = None
        now = timezone.now()
        if (
            client is None
            or client.revoked_at is not None
            or (client.expires_at is not None and client.expires_at <= now)
            or not client.user.is_active
            or (client.external_system is not None and not client.external_system.enabled)
        ):
            raise exceptions.AuthenticationFailed("The token is not valid.")
        if client.last_used_at is None or client.last_used_at < now - _LAST_USED_GRANULARITY:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        return client.user, client

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
