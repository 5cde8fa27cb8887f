"""Roles are groups with model permissions; this table is the one place they are defined.

Store scoping is not a role permission: a store_ops user acts only where they hold the
object permission `inventory.operate_location` (see `retailops.access`). Every other
role holds `inventory.operate_all_locations`.
"""

from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db.models import TextChoices
from django.urls import NoReverseMatch, reverse


class Role(TextChoices):
    INVENTORY_CONTROL = "inventory_control", "Inventory control"
    STORE_OPS = "store_ops", "Store operations"
    FINANCE = "finance", "Finance"
    INTEGRATION_SUPPORT = "integration_support", "Integration support"
    OPS_ADMIN = "ops_admin", "Operations admin"


_MASTER_DATA_READ = ["inventory.view_sku", "inventory.view_location", "inventory.view_channel",
                     "inventory.view_stocklevel", "exceptions.view_case"]
_LEDGER_READ = ["inventory.view_stockmovement", "inventory.view_inventoryevent"]
# Replaying a rejected inbound event once its master data is fixed (from its case).
_EVENTS_REPLAY = ["inventory.change_inventoryevent"]
_MASTER_DATA_WRITE = [
    f"inventory.{action}_{model}" for model in ("sku", "location", "channel") for action in ("add", "change")
]
_ALL_LOCATIONS = ["inventory.operate_all_locations"]
# Working cases (assign, start, resolve, dismiss, comment): every role, each in its scope.
_CASES_WORK = ["exceptions.change_case"]
_ORDERS_READ = ["orders.view_order", "orders.view_allocation"]
_ORDERS_ACT = ["orders.add_order", "orders.change_order", "orders.add_allocation", "orders.change_allocation"]
# Adjustments: staff request them; finance alone approves or rejects (never their own).
_ADJUSTMENTS_READ = ["inventory.view_adjustment"]
_ADJUSTMENTS_REQUEST = ["inventory.add_adjustment"]
_ADJUSTMENTS_APPROVE = ["inventory.approve_adjustment"]
_TRANSFERS_READ = ["inventory.view_transfer"]
_TRANSFERS_ACT = ["inventory.add_transfer", "inventory.change_transfer"]
# Supplier receipts: the dock (a store or DC) announces and receives; central roles read.
_RECEIPTS_READ = ["receiving.view_asn"]
_RECEIPTS_ACT = ["receiving.add_asn", "receiving.change_asn"]
# Cycle counts: schedule/cancel (add), count and submit (change), accept or ask for a recount (review).
_COUNTS_READ = ["inventory.view_cyclecount"]
_COUNTS_WORK = ["inventory.add_cyclecount", "inventory.change_cyclecount", "inventory.review_cyclecount"]
# Returns: receive, inspect, refund at the desk (store ops at their stores); finance
# alone approves or rejects a held refund (never their own).
_RETURNS_READ = ["returns.view_returnauthorization", "returns.view_refund"]
_RETURNS_ACT = ["returns.add_returnauthorization", "returns.change_returnauthorization", "returns.add_refund"]
_REFUNDS_APPROVE = ["returns.approve_refund"]
# Rescoring locations' confidence on demand (the nightly run needs nobody).
_CONFIDENCE_RESCORE = ["inventory.add_locationconfidence"]
# Reconciliation runs and their lines (store operations: their stores' lines only).
_RECONCILIATION_READ = ["reconciliation.view_reconciliationrun", "reconciliation.view_reconciliationline"]
# Deciding reconciliation lines (accept, keep, dismiss, escalate to a case): the roles that
# review with every location.
_RECONCILIATION_DECIDE = ["reconciliation.change_reconciliationline"]
# Uploading a system's stock snapshot (a CSV file) to reconcile: the same roles.
_SNAPSHOTS_UPLOAD = ["integrations.add_inventorysnapshot"]
_APPROVAL_POLICY_EDIT = [f"inventory.{action}_approvalpolicy" for action in ("view", "add", "change")]
# Staff accounts in the admin: a user, their role and stores (backoffice.staff). Roles
# themselves are this table, so they are read, never edited there.
_STAFF_ACCOUNTS_MANAGE = ["auth.view_user", "auth.add_user", "auth.change_user", "auth.view_group"]
# The sign-in record (django-axes): every sign-in, sign-out, failure and lock, read-only.
_SIGN_IN_LOG_READ = ["axes.view_accesslog", "axes.view_accessfailurelog", "axes.view_accessattempt",
                     "retailops.view_secondfactorevent"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.INVENTORY_CONTROL: [*_MASTER_DATA_READ, *_LEDGER_READ, *_ALL_LOCATIONS, *_ORDERS_READ, *_ORDERS_ACT,
                             *_EVENTS_REPLAY, *_CASES_WORK, *_ADJUSTMENTS_READ, *_ADJUSTMENTS_REQUEST, *_TRANSFERS_READ,
                             *_TRANSFERS_ACT, *_COUNTS_READ, *_COUNTS_WORK, *_RETURNS_READ, *_RETURNS_ACT,
                             *_CONFIDENCE_RESCORE, *_RECEIPTS_READ, *_RECEIPTS_ACT, *_RECONCILIATION_READ,
                             *_RECONCILIATION_DECIDE, *_SNAPSHOTS_UPLOAD],
    # Store operations act on orders too, but only at their stores (location scope).
    Role.STORE_OPS: [*_MASTER_DATA_READ, *_LEDGER_READ, *_ORDERS_READ, *_ORDERS_ACT, *_CASES_WORK,
                     *_ADJUSTMENTS_READ, *_ADJUSTMENTS_REQUEST, *_TRANSFERS_READ, *_TRANSFERS_ACT, *_COUNTS_READ,
                     *_COUNTS_WORK, *_RETURNS_READ, *_RETURNS_ACT, *_RECEIPTS_READ, *_RECEIPTS_ACT,
                     *_RECONCILIATION_READ],
    Role.FINANCE: [*_MASTER_DATA_READ, *_LEDGER_READ, *_ALL_LOCATIONS, *_ORDERS_READ, *_CASES_WORK,
                   *_ADJUSTMENTS_READ, *_ADJUSTMENTS_APPROVE, *_TRANSFERS_READ, *_COUNTS_READ, *_RETURNS_READ,
                   *_REFUNDS_APPROVE, *_RECEIPTS_READ, *_RECONCILIATION_READ, *_RECONCILIATION_DECIDE,
                   *_SNAPSHOTS_UPLOAD],
    Role.INTEGRATION_SUPPORT: [
        *_MASTER_DATA_READ,
        *_LEDGER_READ,
        *_EVENTS_REPLAY,
        *_ORDERS_READ,
        *_ALL_LOCATIONS,
        *_CASES_WORK,
        "integrations.view_externalsystem",
        "integrations.change_externalsystem",
        "integrations.view_apiclient",
    ],
    Role.OPS_ADMIN: [
        *_MASTER_DATA_READ,
        *_LEDGER_READ,
        *_ORDERS_READ,
        *_ORDERS_ACT,
        *_MASTER_DATA_WRITE,
        *_ALL_LOCATIONS,
        *_CASES_WORK,
        *_ADJUSTMENTS_READ,
        *_TRANSFERS_READ,
        *_COUNTS_READ,
        *_RETURNS_READ,
        *_RECONCILIATION_READ,
        *_RECONCILIATION_DECIDE,
        *_SNAPSHOTS_UPLOAD,
        *_APPROVAL_POLICY_EDIT,
        *_CONFIDENCE_RESCORE,
        *_STAFF_ACCOUNTS_MANAGE,
        *_SIGN_IN_LOG_READ,
        "integrations.view_externalsystem",
        "integrations.add_externalsystem",
        "integrations.change_externalsystem",
        "integrations.view_apiclient",
        "integrations.change_apiclient",
    ],
}

# Roles that may use the Django admin (master data, history views).
ADMIN_ROLES = {Role.OPS_ADMIN}


def sync_roles() -> None:
    """Create the role groups and give each exactly the permissions of the table."""
    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    by_name = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(wanted - by_name.keys())
    if missing:
        raise ImproperlyConfigured(f"Role permissions that do not exist: {', '.join(missing)}")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set([by_name[perm] for perm in perms])


def sync_roles_after_migrate(sender, **kwargs) -> None:
    if sender.name == "retailops" and global_apps.is_installed("retailops"):
        sync_roles()


def role_of(user) -> str | None:
    if not user.is_authenticated:
        return None
    names = {group.name for group in user.groups.all()}
    return next((role.value for role in Role if role.value in names), None)


# Navigation: (label, url name, permission needed or None). Links whose view does not
# exist yet are left out, so the bar only shows what works.
NAVIGATION = [
    ("Home", "home", None),
    ("Dashboard", "dashboard:index", None),
    ("Orders", "orders:list", "orders.view_order"),
    ("Cases", "cases:index", "exceptions.view_case"),
    ("My cases", "cases:mine", "exceptions.change_case"),
    ("Stock", "inventory:stock", "inventory.view_stocklevel"),
    ("Approvals", "inventory:approvals", "inventory.approve_adjustment"),
    ("Adjust stock", "inventory:adjustment_request", "inventory.add_adjustment"),
    ("Counts", "inventory:counts", "inventory.view_cyclecount"),
    ("Transfers", "inventory:transfers", "inventory.view_transfer"),
    ("Reconciliation", "reconciliation:runs", "reconciliation.view_reconciliationrun"),
    ("Returns", "returns:list", "returns.view_returnauthorization"),
    ("Receiving", "receiving:index", "receiving.change_asn"),
    ("Integrations", "integrations:health", "integrations.view_externalsystem"),
    ("API docs", "api-docs", None),
]


def navigation(request):
    """Template context: the navigation the signed-in user may use, and their role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    for label, url_name, permission in NAVIGATION:
        if permission and not user.has_perm(permission):
            continue
        try:
            items.append({"label": label, "url": reverse(url_name)})
        except NoReverseMatch:
            continue
    if user.is_staff:
        items.append({"label": "Admin", "url": reverse("admin:index")})
    role = role_of(user)
    return {"nav_items": items, "user_role": role, "user_role_label": Role(role).label if role else ""}
