"""Staff accounts: a role (group) and, for store operations, the stores they work at."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from inventory.models import Location, LocationUserObjectPermission
from retailops.access import LOCATION_PERMISSION
from retailops.errors import InvalidInput
from retailops.roles import ADMIN_ROLES, Role

User = get_user_model()


@transaction.atomic
def staff_user_upsert(
    *, username: str, role: str, password: str | None = None, location_codes: Iterable[str] = ()
):
    """Create or update a staff user with exactly one role and its location grants."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'; one of {', '.join(Role.values)}.", code="invalid_role")
    location_codes = sorted(set(location_codes))
    locations = list(Location.objects.filter(code__in=location_codes))
    unknown = sorted(set(location_codes) - {location.code for location in locations})
    if unknown:
        raise InvalidInput(f"Unknown locations: {', '.join(unknown)}.", code="unknown_location")

    user, _created = User.objects.get_or_create(username=username)
    if password:
        user.set_password(password)
    user.is_active = True
    user.is_staff = role in ADMIN_ROLES
    user.save()
    user.groups.set([Group.objects.get(name=role)])

    permission = Permission.objects.get(content_type__app_label="inventory", codename=LOCATION_PERMISSION)
    LocationUserObjectPermission.objects.filter(user=user, permission=permission).delete()
    LocationUserObjectPermission.objects.bulk_create(
        LocationUserObjectPermission(user=user, permission=permission, content_object=location)
        for location in locations
    )
    return user
