"""Staff screens for inventory work: finance's approval inbox, the adjustment request form,
cycle counts (scheduling, the blind count entry, review) and transfers (list, detail, ship,
receive).

Thin, like the API views: reads come from `inventory.selectors`, scoped to the caller (a
document outside a store user's locations is a 404), writes go through the services, and a
domain error becomes a message (or, on a form, an error next to the field it names).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inventory import adjustments, counts, selectors, transfers
from inventory.forms import (
    AdjustmentRequestForm,
    CountEntryForm,
    CountScheduleForm,
    NoteForm,
    RequiredNoteForm,
    TransferFilterForm,
    TransferReceiveForm,
)
from inventory.models import AdjustmentDecision, CycleCount, StockLevel
from inventory.states import COUNTING_STATUSES, CycleCountStatus, TransferStatus
from retailops import inbox
from retailops.access import location_scope
from retailops.errors import DomainError
from retailops.screens import act_and_report, form_problems
from retailops.sessions import password_confirmation_due, password_confirmation_redirect

PAGE_SIZE = 25
APPROVE = "inventory.approve_adjustment"
REQUEST_ADJUSTMENT = "inventory.add_adjustment"
VIEW_COUNTS, SCHEDULE_COUNTS = "inventory.view_cyclecount", "inventory.add_cyclecount"
COUNT_STOCK, REVIEW_COUNTS = "inventory.change_cyclecount", "inventory.review_cyclecount"
VIEW_TRANSFERS, ACT_ON_TRANSFERS = "inventory.view_transfer", "inventory.change_transfer"


def _staff(permission: str, *, post: bool = False):
    """login, then the permission (403 without it), and POST only for actions."""

    def decorate(view):
        view = login_required(permission_required(permission, raise_exception=True)(view))
        return require_POST(view) if post else view

    return decorate


# Service errors that concern one field without naming it.
_FIELD_OF_CODE = {"stale_quantity": "expected_on_hand", "location_out_of_scope": "location"}


def _add_domain_error(form, error: DomainError) -> None:
    """Put a service's error next to the field it names, else at the top of the form."""
    field = getattr(error, "field", None) or _FIELD_OF_CODE.get(error.code)
    form.add_error(field if field in form.FIELDS else None, error.detail)


def _history(obj) -> list:
    return list(obj.history.select_related("history_user").order_by("-history_date", "-history_id"))


# --- Finance: the approval inbox --------------------------------------------------------------


@require_GET
@_staff(APPROVE)
def approvals(request):
    scope = location_scope(request)
    page = Paginator(selectors.adjustments_pending_for(scope=scope), PAGE_SIZE).get_page(request.GET.get("page"))
    pending = list(page.object_list)
    keys = [(adjustment.sku_id, adjustment.location_id) for adjustment in pending]
    movements = selectors.recent_movements_by_level(keys)
    on_hand_now = selectors.on_hand_by_level(keys)
    decided = (AdjustmentDecision.objects.filter(adjustment__in=selectors.adjustments_for(scope=scope))
               .select_related("adjustment__sku", "adjustment__location", "decided_by").order_by("-decided_at")[:20])
    return render(request, "inventory/approvals.html", {
        "page": page,
        "rows": [{"adjustment": adjustment, "approvals": list(adjustment.decisions.all()),
                  "movements": movements.get((adjustment.sku_id, adjustment.location_id), []),
                  "on_hand_now": on_hand_now.get((adjustment.sku_id, adjustment.location_id)),
                  "own": adjustment.requested_by_id == request.user.pk}
                 for adjustment in pending],
        "decided": decided,
        "other_sections": inbox.sections_for(request),
    })


def _visible_adjustment(request, adjustment_id: int):
    return get_object_or_404(selectors.adjustments_for(scope=location_scope(request)), pk=adjustment_id)


def _decide(request, adjustment, *, form_class, decide, done: str):
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, f"Adjustment {adjustment.pk}: {form_problems(form)}")
        return redirect("inventory:approvals")
    act_and_report(request, lambda: decide(adjustment, form.cleaned_data["note"]),
                   done=done.format(adjustment=adjustment),
                   failed=f"Adjustment {adjustment.pk} ({adjustment.sku.code} at {adjustment.location.code}) "
                          "was not changed: ")
    return redirect("inventory:approvals")


@_staff(APPROVE, post=True)
def approval_approve(request, adjustment_id: int):
    """Approving an adjustment worth the second threshold or more asks for the password
    again first, unless it was typed a few minutes ago (`retailops.sessions`)."""
    adjustment = _visible_adjustment(request, adjustment_id)
    if adjustment.needs_two_approvers and password_confirmation_due(request):
        return password_confirmation_redirect(
            request, then=f"{reverse('inventory:approvals')}#adjustment-{adjustment.pk}-heading",
            why=f"Adjustment {adjustment.pk} is worth {adjustment.value}: type your password again to approve it.")
    return _decide(request, adjustment, form_class=NoteForm, done="Adjustment {adjustment.pk} approved.",
                   decide=lambda adjustment, note: adjustments.adjustment_approve(
                       adjustment=adjustment, approver=request.user, note=note))


@_staff(APPROVE, post=True)
def approval_reject(request, adjustment_id: int):
    return _decide(request, _visible_adjustment(request, adjustment_id), form_class=RequiredNoteForm,
                   done="Adjustment {adjustment.pk} rejected.",
                   decide=lambda adjustment, note: adjustments.adjustment_reject(
                       adjustment=adjustment, decider=request.user, note=note))


# --- Requesting an adjustment ------------------------------------------------------------------


def _current_on_hand(scope, sku_code: str, location_code: str) -> int | None:
    level = scope.filter(StockLevel.objects.filter(sku__code=sku_code, location__code=location_code)).first()
    return level.on_hand if level else None


@require_http_methods(["GET", "POST"])
@_staff(REQUEST_ADJUSTMENT)
def adjustment_request(request):
    """Ask for a change of on-hand. Opened with ?sku=&location=, it shows (and prefills as
    the expected value) the level's current on-hand: unlike a blind count, this form may."""
    scope = location_scope(request)
    current = None
    if request.method == "POST":
        form = AdjustmentRequestForm(request.POST, scope=scope)
        if form.is_valid():
            data = form.cleaned_data
            try:
                adjustment = adjustments.adjustment_request(
                    sku_code=data["sku"].strip(), location_code=data["location"].code, delta=data["delta"],
                    reason=data["reason"], root_cause=data["root_cause"], note=data["note"],
                    expected_on_hand=data["expected_on_hand"], actor=request.user, scope=scope)
            except DomainError as error:
                _add_domain_error(form, error)
                if "current_on_hand" in error.extra:
                    current = error.extra["current_on_hand"]
            else:
                if adjustment.status == "applied":
                    messages.success(request, f"Adjustment {adjustment.pk} applied: {adjustment.delta:+d} × "
                                              f"{adjustment.sku.code} at {adjustment.location.code} "
                                              f"(value {adjustment.value}).")
                else:
                    messages.success(request, f"Adjustment {adjustment.pk} is worth {adjustment.value}: it waits "
                                              "for finance approval.")
                return redirect("inventory:adjustment_request")
    else:
        sku_code, location_code = request.GET.get("sku", "").strip(), request.GET.get("location", "").strip()
        initial = {"sku": sku_code, "location": location_code}
        if sku_code and location_code:
            current = _current_on_hand(scope, sku_code, location_code)
            initial["expected_on_hand"] = current
        form = AdjustmentRequestForm(initial=initial, scope=scope)
    return render(request, "inventory/adjustment_request.html", {"form": form, "current_on_hand": current},
                  status=400 if form.errors else 200)


# --- Cycle counts ----------------------------------------------------------------------------


@require_GET
@_staff(VIEW_COUNTS)
def count_list(request):
    scope = location_scope(request)
    status = request.GET.get("status", "")
    listed = selectors.counts_for(scope=scope)
    if status in CycleCountStatus.values:
        listed = listed.filter(status=status)
    page = Paginator(listed, 50).get_page(request.GET.get("page"))
    can_schedule = request.user.has_perm(SCHEDULE_COUNTS)
    return render(request, "inventory/counts.html", {
        "page": page, "status": status, "statuses": CycleCountStatus.choices,
        "form": CountScheduleForm(scope=scope) if can_schedule else None,
    })


@_staff(SCHEDULE_COUNTS, post=True)
def count_schedule(request):
    scope = location_scope(request)
    form = CountScheduleForm(request.POST, scope=scope)
    if form.is_valid():
        data = form.cleaned_data
        try:
            count = counts.count_schedule(location_code=data["location"].code, selection=data["selection"],
                                          sku_codes=data["skus"], sample_size=data["sample_size"],
                                          reason=data["reason"], actor=request.user, scope=scope)
        except DomainError as error:
            _add_domain_error(form, error)
        else:
            messages.success(request, f"Count {count.pk} scheduled at {count.location.code}.")
            return redirect("inventory:count_detail", count_id=count.pk)
    page = Paginator(selectors.counts_for(scope=scope), 50).get_page(1)
    return render(request, "inventory/counts.html", {
        "page": page, "status": "", "statuses": CycleCountStatus.choices, "form": form}, status=400)


def _visible_count(request, count_id: int) -> CycleCount:
    try:
        return selectors.count_with_lines(scope=location_scope(request), count_id=count_id)
    except CycleCount.DoesNotExist as exc:
        raise Http404("No such count.") from exc


@require_GET
@_staff(VIEW_COUNTS)
def count_detail(request, count_id: int):
    """For ops: the lines, and once submitted the variances and the adjustments they became.
    While the count is being counted nothing about quantities shows (it stays blind)."""
    count = _visible_count(request, count_id)
    lines = list(count.lines.all())
    revealed = count.status in (CycleCountStatus.SUBMITTED, CycleCountStatus.ACCEPTED)
    user = request.user
    return render(request, "inventory/count_detail.html", {
        "count": count,
        "lines": lines,
        "revealed": revealed,
        "adjustments": (list(selectors.adjustments_for(scope=location_scope(request))
                             .filter(reference=count.reference).order_by("pk")) if revealed else []),
        "history": _history(count),
        "can_count": user.has_perm(COUNT_STOCK) and count.status in COUNTING_STATUSES,
        "can_review": user.has_perm(REVIEW_COUNTS) and count.status == CycleCountStatus.SUBMITTED,
        "can_cancel": (user.has_perm(SCHEDULE_COUNTS) and count.round == 1
                       and count.status in (CycleCountStatus.SCHEDULED, CycleCountStatus.IN_PROGRESS)),
    })


@require_http_methods(["GET", "POST"])
@_staff(COUNT_STOCK)
def count_entry(request, count_id: int):
    """The blind count: SKU code, name and an input per line; never the system quantity."""
    count = _visible_count(request, count_id)
    if count.status not in COUNTING_STATUSES:
        messages.error(request, f"Count {count.pk} is {count.get_status_display().lower()}: nothing to enter.")
        return redirect("inventory:count_detail", count_id=count.pk)
    lines = list(count.lines.all())
    form = CountEntryForm(request.POST or None, lines=lines)
    if request.method == "POST" and form.is_valid():
        try:
            counts.count_submit(count=count, actor=request.user, scope=location_scope(request),
                                lines=[counts.CountedLine(sku, counted) for sku, counted in form.counted()])
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, f"Count {count.pk} submitted: thank you.")
            if request.user.has_perm(REVIEW_COUNTS):
                return redirect("inventory:count_detail", count_id=count.pk)
            return redirect("inventory:counts")
    return render(request, "inventory/count_entry.html", {"count": count, "form": form},
                  status=400 if form.errors else 200)


def _count_action(request, count_id: int, *, form_class, act, done: str):
    count = _visible_count(request, count_id)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, f"Count {count.pk} was not changed: {form_problems(form)}")
        return redirect("inventory:count_detail", count_id=count.pk)
    act_and_report(request, lambda: act(count, form.cleaned_data["note"]), done=done.format(count=count),
                   failed=f"Count {count.pk} was not changed: ")
    return redirect("inventory:count_detail", count_id=count.pk)


@_staff(REVIEW_COUNTS, post=True)
def count_accept(request, count_id: int):
    return _count_action(request, count_id, form_class=NoteForm, done="Count {count.pk} accepted.",
                         act=lambda count, note: counts.count_accept(count=count, actor=request.user, note=note,
                                                                     scope=location_scope(request)))


@_staff(REVIEW_COUNTS, post=True)
def count_recount(request, count_id: int):
    return _count_action(request, count_id, form_class=RequiredNoteForm,
                         done="Recount requested: the lines wait to be counted again.",
                         act=lambda count, note: counts.count_request_recount(
                             count=count, actor=request.user, note=note, scope=location_scope(request)))


@_staff(SCHEDULE_COUNTS, post=True)
def count_cancel(request, count_id: int):
    return _count_action(request, count_id, form_class=NoteForm, done="Count {count.pk} cancelled.",
                         act=lambda count, note: counts.count_cancel(count=count, actor=request.user, note=note,
                                                                     scope=location_scope(request)))


# --- Transfers -------------------------------------------------------------------------------


@require_GET
@_staff(VIEW_TRANSFERS)
def transfer_list(request):
    scope = location_scope(request)
    form = TransferFilterForm(request.GET, scope=scope)
    filters = form.filters()
    listed = selectors.transfers_for(scope=scope).order_by("-pk")
    if filters.get("status"):
        listed = listed.filter(status=filters["status"])
    if filters.get("location"):
        location = filters["location"]
        listed = listed.filter(Q(source=location) | Q(destination=location))
    if filters.get("reference"):
        listed = listed.filter(reference__icontains=filters["reference"])
    page = Paginator(listed, 50).get_page(request.GET.get("page"))
    return render(request, "inventory/transfers.html", {"form": form, "page": page})


def _visible_transfer(request, transfer_id: int):
    return get_object_or_404(selectors.transfers_for(scope=location_scope(request)), pk=transfer_id)


@require_GET
@_staff(VIEW_TRANSFERS)
def transfer_detail(request, transfer_id: int):
    transfer = _visible_transfer(request, transfer_id)
    lines = list(transfer.lines.all())
    scope = location_scope(request)
    acts = request.user.has_perm(ACT_ON_TRANSFERS)
    can_ship = (acts and scope.allows(transfer.source_id)
                and transfer.status in (TransferStatus.REQUESTED, TransferStatus.APPROVED))
    can_receive = acts and scope.allows(transfer.destination_id) and transfer.status == TransferStatus.SHIPPED
    return render(request, "inventory/transfer_detail.html", {
        "transfer": transfer,
        "lines": lines,
        "history": _history(transfer),
        "can_ship": can_ship,
        "receive_form": TransferReceiveForm(lines=lines) if can_receive else None,
    })


@_staff(ACT_ON_TRANSFERS, post=True)
def transfer_ship(request, transfer_id: int):
    transfer = _visible_transfer(request, transfer_id)
    form = NoteForm(request.POST)
    form.is_valid()
    act_and_report(request, lambda: transfers.transfer_ship(transfer=transfer, actor=request.user,
                                                            scope=location_scope(request),
                                                            note=form.cleaned_data.get("note", "")),
                   done=f"Transfer {transfer.pk} shipped: the units are in transit to {transfer.destination.code}.",
                   failed=f"Transfer {transfer.pk} was not shipped: ")
    return redirect("inventory:transfer_detail", transfer_id=transfer.pk)


@_staff(ACT_ON_TRANSFERS, post=True)
def transfer_receive(request, transfer_id: int):
    transfer = _visible_transfer(request, transfer_id)
    form = TransferReceiveForm(request.POST, lines=list(transfer.lines.all()))
    if not form.is_valid():
        messages.error(request, f"Transfer {transfer.pk} was not received: {form_problems(form)}")
        return redirect("inventory:transfer_detail", transfer_id=transfer.pk)
    try:
        transfers.transfer_receive(
            transfer=transfer, actor=request.user, scope=location_scope(request), note=form.cleaned_data["note"],
            lines=[transfers.LineInput(sku, quantity) for sku, quantity in form.received()])
    except DomainError as error:
        messages.error(request, f"Transfer {transfer.pk} was not received: {error.detail}")
    else:
        short_or_over = any(line.shipped != received for line, (_sku, received)
                            in zip(form.lines, form.received(), strict=True))
        messages.success(request, f"Transfer {transfer.pk} received."
                         + (" The difference to what was shipped opened a transfer variance case."
                            if short_or_over else ""))
    return redirect("inventory:transfer_detail", transfer_id=transfer.pk)

