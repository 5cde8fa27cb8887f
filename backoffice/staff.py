"""Staff accounts: a role (group) and, for store operations, the stores they work at."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from guardian.shortcuts import assign_perm, get_objects_for_user, remove_perm

from inventory.selectors import locations_by_code
from retailops.access import LOCATION_PERMISSION
from retailops.errors import InvalidInput
from retailops.roles import ADMIN_ROLES, Role
from retailops.transactions import in_retrying_transaction

User = get_user_model()
OPERATE_LOCATION = f"inventory.{LOCATION_PERMISSION}"


@in_retrying_transaction
def staff_user_upsert(
    *, username: str, role: str, password: str | None = None, location_codes: Iterable[str] = ()
):
    """Create or update a staff user with exactly one role and its location grants. A new
    password must pass the configured validators (length, common, numeric, similarity)."""
    user, _created = User.objects.get_or_create(username=username)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as refused:
            raise InvalidInput(" ".join(refused.messages), code="weak_password", field="password") from None
        user.set_password(password)
    user.is_active = True
    user.save()
    return staff_user_access_set(user=user, role=role, location_codes=location_codes)


@in_retrying_transaction
def staff_user_access_set(*, user, role: str, location_codes: Iterable[str] = ()):
    """Give a staff user exactly one role and exactly these stores (an `operate_location`
    grant each); only an admin role may use the Django admin."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role '{role}'; one of {', '.join(Role.values)}.", code="invalid_role")
    location_codes = sorted(set(location_codes))
    locations = locations_by_code(location_codes)
    unknown = [code for code in location_codes if code not in locations]
    if unknown:
        raise InvalidInput(f"Unknown locations: {', '.join(unknown)}.", code="unknown_location")

    is_staff = user.is_superuser or role in ADMIN_ROLES
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    user.groups.set([Group.objects.get(name=role)])
    remove_perm(OPERATE_LOCATION, user, staff_user_locations(user))
    assign_perm(OPERATE_LOCATION, user, list(locations.values()))
    return user


def staff_user_locations(user):
    """The locations granted to the user themselves (not through a group)."""
    return get_objects_for_user(user, OPERATE_LOCATION, use_groups=False, with_superuser=False,
                                accept_global_perms=False)


def staff_users_named(usernames: Iterable[str]) -> dict:
    """The existing accounts among these usernames, by username."""
    return {user.username: user for user in User.objects.filter(username__in=list(usernames))}
