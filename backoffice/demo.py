"""Demo staff accounts, one per role, for `make run`. Their passwords are published (the
README, the command's output), so `seed_demo` creates them only under DEBUG or when asked,
and never touches an account that already exists under one of their names."""

from dataclasses import dataclass

from backoffice.staff import staff_user_upsert, staff_users_named
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


def seed_demo_users() -> list[tuple[DemoUser, bool]]:
    """Create the demo users that do not exist yet. An existing account keeps its
    password, role and stores. Each demo user comes with whether its published password
    signs in (so a second run can still show it)."""
    existing = staff_users_named(user.username for user in DEMO_USERS)
    seeded = []
    for user in DEMO_USERS:
        account = existing.get(user.username)
        if account is None:
            staff_user_upsert(username=user.username, role=user.role, password=user.password,
                              location_codes=user.locations)
        seeded.append((user, account is None or account.check_password(user.password)))
    return seeded


def demo_sign_ins() -> list[DemoUser]:
    """The demo users that exist, are active and still have their published password:
    the ones a newcomer can sign in as (a changed password is not printed)."""
    accounts = staff_users_named(user.username for user in DEMO_USERS)
    return [demo for demo in DEMO_USERS
            if demo.username in accounts and accounts[demo.username].is_active
            and accounts[demo.username].check_password(demo.password)]
