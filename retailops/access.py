"""Who may do what, and where: the one access module every API view and selector uses.

Two kinds of caller reach the API:
- **partner clients** (a token bound to an external system): a view names the scope it
  needs (`required_scope`); the token must carry it. The token's location scope limits
  which locations it reads and writes.
- **staff** (browser session or a personal token): a view names the model permissions
  each method needs (`staff_permissions`); the user's role must hold them. store_ops
  users act only at the locations they hold `inventory.operate_location` on.

A view that declares neither is refused to everyone: access is opt-in.

Location scope is computed once per request (`location_scope(request)`) and applied in
querysets, list views included, never as a per-row check in a loop.
"""

from dataclasses import dataclass

from django.db.models import QuerySet, TextChoices
from guardian.shortcuts import get_objects_for_user
from rest_framework import exceptions
from rest_framework.permissions import BasePermission


class Scope(TextChoices):
    EVENTS = "events"
    AVAILABILITY = "availability"
    ORDERS = "orders"
    RETURNS = "returns"
    TRANSFERS = "transfers"
    SNAPSHOTS = "snapshots"
    RECEIPTS = "receipts"
    MASTER_DATA = "master_data"


ALL_LOCATIONS_PERMISSION = "inventory.operate_all_locations"
LOCATION_PERMISSION = "operate_location"


class MissingScope(exceptions.PermissionDenied):
    default_code = "missing_scope"
    default_detail = "This token does not carry the scope this endpoint needs."


def partner_client(request):
    """The partner ApiClient behind the request, or None for staff and anonymous."""
    client = getattr(request, "auth", None)
    if client is not None and getattr(client, "is_partner", False):
        return client
    return None


def partner_system_code(request) -> str | None:
    """The code of the partner system behind the request, or None for staff: records a
    partner creates carry it, and a partner sees only the records of its own system."""
    client = partner_client(request)
    return client.external_system.code if client is not None else None


class ApiAccess(BasePermission):
    """Partners need the view's scope; staff need the view's model permissions."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False  # DRF answers 401 with the Bearer challenge
        client = partner_client(request)
        if client is not None:
            scope = getattr(view, "required_scope", None)
            if scope is None:
                raise exceptions.PermissionDenied("Partner tokens cannot use this endpoint.")
            if scope not in client.scopes:
                raise MissingScope(f"This token lacks the '{scope}' scope.")
            return True
        needed = getattr(view, "staff_permissions", {}).get(request.method)
        if needed is None and request.method == "HEAD":
            needed = getattr(view, "staff_permissions", {}).get("GET")
        if needed is None:
            return False
        return user.has_perms(needed)


@dataclass(frozen=True)
class LocationScope:
    """The locations a caller may see and act at: every one, or a fixed set of ids."""

    location_ids: frozenset[int] | None  # None: all locations

    @property
    def is_all(self) -> bool:
        return self.location_ids is None

    def allows(self, location_id: int) -> bool:
        return self.location_ids is None or location_id in self.location_ids

    def filter(self, queryset: QuerySet, field: str = "location") -> QuerySet:
        if self.location_ids is None:
            return queryset
        lookup = "pk__in" if field == "pk" else f"{field}_id__in"
        return queryset.filter(**{lookup: self.location_ids})


def location_scope_for_user(user) -> LocationScope:
    """Every location for a central role; else the locations the user (or one of their
    groups) holds `inventory.operate_location` on, through guardian: one query."""
    if not user.is_authenticated or not user.is_active:
        return LocationScope(frozenset())
    if user.is_superuser or user.has_perm(ALL_LOCATIONS_PERMISSION):
        return LocationScope(None)
    granted = get_objects_for_user(user, f"inventory.{LOCATION_PERMISSION}", with_superuser=False,
                                   accept_global_perms=False)
    return LocationScope(frozenset(granted.values_list("pk", flat=True)))


def location_scope(request) -> LocationScope:
    """The caller's location scope, computed once per request."""
    django_request = getattr(request, "_request", request)
    cached = getattr(django_request, "_retailops_location_scope", None)
    if cached is not None:
        return cached
    client = partner_client(request)
    if client is not None:
        scope = LocationScope(client.location_ids)
    else:
        scope = location_scope_for_user(request.user)
    django_request._retailops_location_scope = scope
    return scope
