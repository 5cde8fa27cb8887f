"""The home page each role lands on."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from exceptions import selectors as case_selectors
from exceptions.priority import band_of
from inventory.selectors import locations_for
from orders import selectors as order_selectors
from orders.callers import Caller
from retailops.roles import Role, role_of

# Roles whose work is a case queue land on it.
LANDS_ON_CASES = {Role.INVENTORY_CONTROL}
# Store operations land on their stores' work: cases and the pickup counter, on one page.
CASES_SHOWN = 10
PICKUPS_SHOWN = 25


@login_required
def home(request):
    role = role_of(request.user)
    if role in LANDS_ON_CASES:
        return redirect("cases:index")
    if role == Role.STORE_OPS:
        return _store_home(request)
    if role == Role.INTEGRATION_SUPPORT:
        return redirect("integrations:health")
    if role == Role.FINANCE:  # finance's work is the approval inbox
        return redirect("inventory:approvals")
    if role == Role.OPS_ADMIN:  # ops admins watch the figures
        return redirect("dashboard:index")
    return render(request, "home.html")


def _store_home(request):
    """The cases at the person's stores (highest priority first) beside the pickups waiting
    at their counters (overdue acknowledgements first). Both are read through the scoped
    selectors, so a store sees only its own; a fixed number of queries for any volume."""
    caller = Caller.from_request(request)
    user = request.user
    context = {"stores": list(locations_for(scope=caller.scope).order_by("code").values_list("code", flat=True))}
    if user.has_perm("exceptions.view_case"):
        filters = case_selectors.QueueFilters()
        cases = case_selectors.queue_cases(scope=caller.scope, user=user, filters=filters)[:CASES_SHOWN]
        context["case_rows"] = [(case, band_of(case.priority)) for case in cases]
        context["case_summary"] = case_selectors.queue_summary(scope=caller.scope, user=user, filters=filters)
    if user.has_perm("orders.view_order"):
        now = timezone.now()
        pickups = order_selectors.pickups_awaiting(caller=caller, now=now)
        context["pickups"] = list(pickups[:PICKUPS_SHOWN])
        context["pickup_counts"] = order_selectors.pickup_counts(pickups, now=now)
    return render(request, "home_store_ops.html", context)
