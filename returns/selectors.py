"""Reads of returns, scoped to the caller: their location must be in the caller's
location scope, and a partner system sees only the returns it authorised."""

from datetime import timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from retailops.access import LocationScope
from returns.models import Refund, ReturnAuthorization, ReturnInspection, ReturnLine, ReturnPosting, ReturnReceipt
from returns.states import OPEN_STATUSES, RefundStatus


def returns_for(*, scope: LocationScope, source_system: str | None = None) -> QuerySet[ReturnAuthorization]:
    """Returns at the caller's locations, with their lines, refunds and ERP postings, in
    a fixed number of queries for any page; newest first."""
    returns = (ReturnAuthorization.objects.select_related("location", "created_by").prefetch_related(
        Prefetch("lines", queryset=ReturnLine.objects.select_related("sku").order_by("pk")),
        Prefetch("refunds", queryset=Refund.objects.select_related("requested_by", "decided_by").order_by("pk")),
        Prefetch("postings", queryset=ReturnPosting.objects.select_related("message").order_by("pk")),
    ).order_by("-pk"))
    if source_system is not None:
        returns = returns.filter(source_system=source_system)
    return scope.filter(returns)


def returns_aged(returns: QuerySet[ReturnAuthorization], *, days: int) -> QuerySet[ReturnAuthorization]:
    """Of `returns`, the open ones authorised at least `days` ago."""
    return returns.filter(status__in=OPEN_STATUSES, created_at__lte=timezone.now() - timedelta(days=days))


def return_by_reference(*, scope: LocationScope, reference: str) -> ReturnAuthorization | None:
    """What the desk finds for a typed or scanned reference: the return with that
    external id (the RA number), else the one with that id, inside the caller's scope."""
    reference = reference.strip()
    if not reference:
        return None
    visible = returns_for(scope=scope)
    matching = Q(external_id=reference)
    if reference.isdigit() and len(reference) < 18:
        matching |= Q(pk=int(reference))
    found = list(visible.filter(matching)[:2])
    exact = [authorization for authorization in found if authorization.external_id == reference]
    return (exact or found or [None])[0]


def refunds_pending_for(*, scope: LocationScope) -> QuerySet[Refund]:
    """Refunds waiting for finance, the largest first, with their return and its lines."""
    refunds = (Refund.objects.filter(status=RefundStatus.PENDING_APPROVAL)
               .select_related("return_authorization__location", "requested_by")
               .prefetch_related(Prefetch("return_authorization__lines",
                                          queryset=ReturnLine.objects.select_related("sku").order_by("pk")))
               .order_by("-amount", "pk"))
    return scope.filter(refunds, field="return_authorization__location")


def return_timeline(authorization: ReturnAuthorization) -> dict:
    """A return's receipts, inspections and history, oldest first, for its detail page."""
    return {
        "receipts": list(ReturnReceipt.objects.filter(return_authorization=authorization)
                         .select_related("line__sku", "received_by").order_by("pk")),
        "inspections": list(ReturnInspection.objects.filter(return_authorization=authorization)
                            .select_related("line__sku", "inspected_by").order_by("pk")),
        "history": list(authorization.history.select_related("history_user").order_by("-history_date",
                                                                                       "-history_id")),
        "refund_history": list(Refund.history.filter(return_authorization_id=authorization.pk)
                               .select_related("history_user").order_by("-history_date", "-history_id")),
    }


def returns_refunded(*, scope: LocationScope, start, end) -> QuerySet[ReturnAuthorization]:
    """Returns refunded in [start, end) at the caller's locations."""
    return scope.filter(ReturnAuthorization.objects.filter(refunded_at__gte=start, refunded_at__lt=end))


def return_cycle_times(*, scope: LocationScope, start, end):
    """For the dashboard's returns cycle time: per return refunded in [start, end), its
    location and its three times (authorised, first units received, refunded), by location."""
    return (returns_refunded(scope=scope, start=start, end=end)
            .values_list("location_id", "location__code", "location__name", "created_at", "received_at",
                         "refunded_at")
            .order_by("location__code"))
