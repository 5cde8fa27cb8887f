"""Demo staff accounts, one per role, for `make run`. Never created in production."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from backoffice.staff import staff_user_upsert
from retailops.roles import Role


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    locations: tuple[str, ...] = ()


DEMO_USERS = [
    DemoUser("control", "control-demo-pass", Role.INVENTORY_CONTROL),
    DemoUser("store", "store-demo-pass", Role.STORE_OPS, ("S001", "S002")),
    DemoUser("finance", "finance-demo-pass", Role.FINANCE),
    DemoUser("integration", "integration-demo-pass", Role.INTEGRATION_SUPPORT),
    DemoUser("admin", "admin-demo-pass", Role.OPS_ADMIN),
]


def seed_demo_users() -> None:
    for user in DEMO_USERS:
        staff_user_upsert(username=user.username, role=user.role, password=user.password,
                          location_codes=user.locations)


def demo_sign_ins() -> list[DemoUser]:
    """The demo users that exist, are active and still have their published password:
    the ones a newcomer can sign in as (a changed password is not printed)."""
    accounts = {user.username: user for user in get_user_model().objects.filter(
        username__in=[demo.username for demo in DEMO_USERS], is_active=True)}
    return [demo for demo in DEMO_USERS
            if demo.username in accounts and accounts[demo.username].check_password(demo.password)]
