"""Staff screens of the project package: the home page each role lands on."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from retailops.roles import Role, role_of

# Roles whose work is a case queue land on it (store operations: their stores' cases).
LANDS_ON_CASES = {Role.INVENTORY_CONTROL, Role.STORE_OPS}


@login_required
def home(request):
    role = role_of(request.user)
    if role in LANDS_ON_CASES:
        return redirect("cases:index")
    if role == Role.INTEGRATION_SUPPORT:
        return redirect("integrations:health")
    if role == Role.FINANCE:  # finance's work is the approval inbox
        return redirect("inventory:approvals")
    return render(request, "home.html")
