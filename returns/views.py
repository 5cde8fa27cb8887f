"""Staff screens for returns: the desk (find a return by its number, receive its units,
then inspect them in a keyboard-first disposition grid), the list with its filters, and a
return's detail with its timeline and history.

Thin, like the API views: reads from `returns.selectors`, scoped to the caller (a return
outside a store user's locations is a 404); writes through the services; a domain error
becomes a message in the app's own layout.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from retailops.access import location_scope
from retailops.screens import act_and_report, form_problems
from retailops.sessions import password_confirmation_due, password_confirmation_redirect
from returns import refunds, selectors, services
from returns.forms import FindReturnForm, ReturnFilterForm, ReturnInspectForm, ReturnReceiveForm
from returns.states import INSPECTING_STATUSES, RECEIVING_STATUSES, Disposition, RefundStatus

VIEW_RETURNS, ACT_ON_RETURNS = "returns.view_returnauthorization", "returns.change_returnauthorization"
PAGE_SIZE = 50


def _staff(permission: str, *, post: bool = False):
    def decorate(view):
        view = login_required(permission_required(permission, raise_exception=True)(view))
        return require_POST(view) if post else view

    return decorate


def _visible(request, return_id: int):
    return get_object_or_404(selectors.returns_for(scope=location_scope(request)), pk=return_id)


def _desk_url(authorization) -> str:
    return f"{reverse('returns:desk')}?reference={authorization.external_id}"


# --- The desk --------------------------------------------------------------------------------


@require_GET
@_staff(ACT_ON_RETURNS)
def desk(request):
    find = FindReturnForm(request.GET or None)
    authorization = None
    if find.is_valid():
        authorization = selectors.return_by_reference(scope=location_scope(request),
                                                      reference=find.cleaned_data["reference"])
        if authorization is None:
            messages.error(request, f"No return numbered '{find.cleaned_data['reference']}' at your locations.")
    lines = list(authorization.lines.all()) if authorization else []
    return render(request, "returns/desk.html", {
        "find": find,
        "authorization": authorization,
        "lines": lines,
        "receive_form": (ReturnReceiveForm(lines=lines) if authorization and authorization.status
                         in RECEIVING_STATUSES else None),
        "inspect_form": (ReturnInspectForm(lines=lines) if authorization and authorization.status
                         in INSPECTING_STATUSES else None),
        "dispositions": Disposition,
    })


@_staff(ACT_ON_RETURNS, post=True)
def receive(request, return_id: int):
    authorization = _visible(request, return_id)
    form = ReturnReceiveForm(request.POST, lines=list(authorization.lines.all()))
    if not form.is_valid() or not form.arrived():
        messages.error(request, f"Return {authorization.external_id} was not received: "
                       + (form_problems(form) if form.errors else "enter the units that arrived."))
        return redirect(_desk_url(authorization))
    arrived = form.arrived()
    act_and_report(request, lambda: services.return_receive(
        authorization=authorization, actor=request.user, scope=location_scope(request),
        note=form.cleaned_data["note"], lines=[services.LineInput(sku, units) for sku, units in arrived]),
        done=f"Return {authorization.external_id}: {sum(units for _sku, units in arrived)} unit(s) received into "
             "quality control.",
        failed=f"Return {authorization.external_id} was not received: ")
    return redirect(_desk_url(authorization))


@_staff(ACT_ON_RETURNS, post=True)
def inspect(request, return_id: int):
    authorization = _visible(request, return_id)
    form = ReturnInspectForm(request.POST, lines=list(authorization.lines.all()))
    if not form.is_valid() or not form.groups():
        messages.error(request, f"Return {authorization.external_id} was not inspected: "
                       + (form_problems(form) if form.errors else "enter the units of at least one disposition."))
        return redirect(_desk_url(authorization))
    groups = form.groups()
    act_and_report(request, lambda: services.return_inspect(
        authorization=authorization, actor=request.user, scope=location_scope(request),
        note=form.cleaned_data["note"],
        lines=[services.InspectionInput(sku, units, disposition) for sku, units, disposition in groups]),
        done=f"Return {authorization.external_id}: {sum(units for _sku, units, _d in groups)} unit(s) inspected.",
        failed=f"Return {authorization.external_id} was not inspected: ")
    return redirect(_desk_url(authorization))


@_staff(ACT_ON_RETURNS, post=True)
def close(request, return_id: int):
    authorization = _visible(request, return_id)
    act_and_report(request, lambda: services.return_close(authorization=authorization, actor=request.user,
                                                          scope=location_scope(request),
                                                          note=request.POST.get("note", "")[:2000]),
                   done=f"Return {authorization.external_id} closed.",
                   failed=f"Return {authorization.external_id} was not closed: ")
    return redirect("returns:detail", return_id=authorization.pk)


# --- List and detail -------------------------------------------------------------------------


@require_GET
@_staff(VIEW_RETURNS)
def return_list(request):
    form = ReturnFilterForm(request.GET)
    listed = selectors.returns_for(scope=location_scope(request))
    if form.is_valid():
        if form.cleaned_data["status"]:
            listed = listed.filter(status=form.cleaned_data["status"])
        if form.cleaned_data["location"]:
            listed = listed.filter(location__code=form.cleaned_data["location"])
        if form.cleaned_data["older_than_days"] is not None:
            listed = selectors.returns_aged(listed, days=form.cleaned_data["older_than_days"])
    else:
        messages.error(request, f"Filters not applied: {form_problems(form)}")
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "returns/list.html", {"form": form, "page": page,
                                                 "can_act": request.user.has_perm(ACT_ON_RETURNS)})


@require_GET
@_staff(VIEW_RETURNS)
def detail(request, return_id: int):
    authorization = _visible(request, return_id)
    timeline = selectors.return_timeline(authorization)
    refund = authorization.current_refund
    steps = [
        ("Authorised", authorization.created_at),
        ("Received", authorization.received_at),
        ("Inspected", authorization.inspected_at),
        ("Refunded", refund.refunded_at if refund and refund.status == RefundStatus.REFUNDED else None),
        ("Posted to the ERP", next((posting.message.delivered_at for posting in authorization.postings.all()
                                    if posting.message and posting.message.delivered_at), None)),
        ("Closed", authorization.closed_at),
    ]
    return render(request, "returns/detail.html", {
        "authorization": authorization, "lines": list(authorization.lines.all()), "refund": refund,
        "postings": list(authorization.postings.all()), "steps": steps, "history": timeline["history"],
        "refund_history": timeline["refund_history"], "receipts": timeline["receipts"],
        "inspections": timeline["inspections"], "can_act": request.user.has_perm(ACT_ON_RETURNS),
    })


# --- Finance: held refunds in the approval inbox ------------------------------------------------


def refund_inbox_section(request) -> dict | None:
    """The approval inbox's section of refunds waiting for finance (`retailops.inbox`)."""
    if not request.user.has_perm(refunds.APPROVE_PERMISSION):
        return None
    pending = list(selectors.refunds_pending_for(scope=location_scope(request))[:50])
    return {"template": "returns/_refund_inbox.html",
            "context": {"pending_refunds": pending, "me": request.user.pk}}


@_staff(refunds.APPROVE_PERMISSION, post=True)
def refund_approve(request, return_id: int):
    """Approving a refund worth the second threshold or more asks for the password again
    first, unless it was typed a few minutes ago (`retailops.sessions`), as adjustments do."""
    authorization = _visible(request, return_id)
    refund = authorization.current_refund
    if refund is not None and refund.needs_two_approvers and password_confirmation_due(request):
        return password_confirmation_redirect(
            request, then=f"{reverse('inventory:approvals')}#refund-{refund.pk}",
            why=f"The refund of return {authorization.external_id} is {refund.amount}: type your password again "
                "to approve it.")
    act_and_report(request, lambda: refunds.refund_approve(
        authorization=authorization, approver=request.user, note=request.POST.get("note", "")[:2000]),
        done=lambda approved: (
            f"Refund of return {authorization.external_id} approved and paid."
            if approved.status == RefundStatus.REFUNDED else
            f"Refund of return {authorization.external_id}: your approval is recorded; it needs "
            f"{approved.approvals_required - len(approved.approvers)} more, from another finance approver."),
        failed=f"The refund of return {authorization.external_id} was not changed: ")
    return redirect("inventory:approvals")


@_staff(refunds.APPROVE_PERMISSION, post=True)
def refund_reject(request, return_id: int):
    authorization = _visible(request, return_id)
    act_and_report(request, lambda: refunds.refund_reject(authorization=authorization, decider=request.user,
                                                          note=request.POST.get("note", "")[:2000]),
                   done=f"Refund of return {authorization.external_id} rejected.",
                   failed=f"The refund of return {authorization.external_id} was not changed: ")
    return redirect("inventory:approvals")
