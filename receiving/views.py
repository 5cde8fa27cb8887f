"""The receiving screen for docks (DCs and stores): scan or type a notice's external id,
enter what arrived per line, confirm. Thin: reads from `receiving.selectors` scoped to the
user's locations (another store's notice is a 404), writes through `receiving.services`,
and a domain error becomes a message on the same page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from receiving import selectors, services
from receiving.forms import FindAsnForm, ReceiptForm
from receiving.states import AWAITED_STATUSES, RECEIVABLE_STATUSES
from retailops.access import location_scope
from retailops.errors import DomainError

RECEIVE = "receiving.change_asn"
AWAITED_SHOWN = 50


@require_http_methods(["GET"])
@login_required
@permission_required(RECEIVE, raise_exception=True)
def receiving_index(request):
    """Find a notice (a scanner types the id and Enter); below, what is awaited here."""
    scope = location_scope(request)
    form = FindAsnForm(request.GET or None)
    if form.is_bound and form.is_valid():
        asn = selectors.asn_by_external_id(scope=scope, external_id=form.cleaned_data["asn"])
        if asn is not None:
            return redirect("receiving:receive", asn_id=asn.pk)
        form.add_error("asn", f"No notice '{form.cleaned_data['asn']}' at your locations.")
    awaited = (selectors.asns_for(scope=scope).filter(status__in=AWAITED_STATUSES).select_related("location")
               .order_by("expected_at", "pk")[:AWAITED_SHOWN])
    return render(request, "receiving/index.html", {"form": form, "awaited": awaited})


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(RECEIVE, raise_exception=True)
def asn_receive_screen(request, asn_id: int):
    scope = location_scope(request)
    asn = get_object_or_404(selectors.asns_with_lines(selectors.asns_for(scope=scope)), pk=asn_id)
    lines = list(asn.lines.all())
    form = ReceiptForm(request.POST or None, lines=lines)
    if request.method == "POST" and form.is_valid():
        try:
            services.asn_receive(asn=asn, actor=request.user, scope=scope, complete=form.cleaned_data["complete"],
                                 note=form.cleaned_data["note"],
                                 lines=[services.ReceiptLineInput(sku=sku, quantity=quantity, damaged=damaged)
                                        for sku, quantity, damaged in form.receipt()])
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, f"ASN {asn.external_id} received.")
            return redirect("receiving:receive", asn_id=asn.pk)
    for line in lines:
        line.variance_kinds = services.variance_kinds(line, complete=asn.status not in AWAITED_STATUSES)
    return render(request, "receiving/receive.html", {
        "asn": asn, "lines": lines, "form": form, "receivable": asn.status in RECEIVABLE_STATUSES,
        "erp_posting": selectors.erp_posting(asn),
    }, status=400 if form.errors else 200)
