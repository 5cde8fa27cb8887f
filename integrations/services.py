"""Writes for external systems and their API clients."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from integrations.models import ApiClient, ExternalSystem
from integrations.tokens import hash_token, new_token
from inventory.models import Location
from retailops.access import Scope
from retailops.errors import InvalidInput

User = get_user_model()

SERVICE_USER_PREFIX = "system:"


@dataclass(frozen=True)
class IssuedToken:
    client: ApiClient
    token: str  # shown once, never stored


def _validated_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown:
        raise InvalidInput(f"Unknown scopes: {', '.join(unknown)}.", code="invalid_scope", field="scopes")
    return scopes


def _locations_by_code(codes: Iterable[str]) -> list[Location]:
    codes = sorted(set(codes))
    locations = list(Location.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {location.code for location in locations})
    if unknown:
        raise InvalidInput(f"Unknown locations: {', '.join(unknown)}.", code="unknown_location", field="locations")
    return locations


@transaction.atomic
def external_system_ensure(*, code: str, kind: str, name: str = "") -> ExternalSystem:
    system, _created = ExternalSystem.objects.get_or_create(code=code, defaults={"kind": kind, "name": name or code})
    return system


@transaction.atomic
def api_client_create(
    *,
    system: ExternalSystem,
    scopes: Iterable[str] | None = None,
    location_codes: Iterable[str] | None = None,
    name: str = "",
) -> IssuedToken:
    """A new partner token for `system`. No scopes given: all; no locations given: all."""
    scopes = _validated_scopes(Scope.values if scopes is None else scopes)
    locations = _locations_by_code(location_codes) if location_codes else []
    service_user, _created = User.objects.get_or_create(
        username=f"{SERVICE_USER_PREFIX}{system.code}", defaults={"is_active": True}
    )
    if _created:
        service_user.set_unusable_password()
        service_user.save(update_fields=["password"])
    token = new_token()
    client = ApiClient.objects.create(
        name=name or system.code,
        kind=ApiClient.Kind.PARTNER,
        external_system=system,
        user=service_user,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        scopes=scopes,
        all_locations=not locations,
    )
    if locations:
        client.locations.set(locations)
    return IssuedToken(client=client, token=token)


@transaction.atomic
def staff_token_issue(*, user) -> IssuedToken:
    """A personal API token for a staff user; it acts with the user's role and expires."""
    token = new_token()
    client = ApiClient.objects.create(
        name=f"personal token of {user.get_username()}",
        kind=ApiClient.Kind.STAFF,
        user=user,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        scopes=[],
        all_locations=False,
        expires_at=timezone.now() + timedelta(days=settings.STAFF_TOKEN_TTL_DAYS),
    )
    return IssuedToken(client=client, token=token)
