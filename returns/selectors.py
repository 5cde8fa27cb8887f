"""Reads of returns, scoped to the caller: their location must be in the caller's
location scope, and a partner system sees only the returns it authorised."""

from datetime import timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from retailops.access import LocationScope
from returns.models import (
    Refund,
    RefundDecision,
    ReturnAuthorization,
    ReturnInspection,
    ReturnLine,
    ReturnPosting,
    ReturnReceipt,
)
from returns.states import OPEN_STATUSES, RefundStatus

_DECISIONS = Prefetch("decisions", queryset=RefundDecision.objects.select_related("decided_by").order_by("pk"))


def returns_for(*, scope: LocationScope, source_system: str | None = None) -> QuerySet[ReturnAuthorization]:
    """Returns at the caller's locations, with their lines, refunds and ERP postings, in
    a fixed number of queries for any page; newest first."""
    returns = (ReturnAuthorization.objects.select_related("location", "created_by").prefetch_related(
        Prefetch("lines", queryset=ReturnLine.objects.select_related("sku").order_by("pk")),
        Prefetch("refunds", queryset=Refund.objects.select_related("requested_by", "decided_by")
                 .prefetch_related(_DECISIONS).order_by("pk")),
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
    external id (the RA number), else the one with that id, else the newest till return
    with that till reference (the till's receipt number, or its event id), inside the
    caller's scope."""
    reference = reference.strip()
    if not reference:
        return None
    visible = returns_for(scope=scope)
    matching = Q(external_id=reference) | Q(till_reference=reference)
    if reference.isdigit() and len(reference) < 18:
        matching |= Q(pk=int(reference))
    found = list(visible.filter(matching)[:20])
    exact = [authorization for authorization in found if authorization.external_id == reference]
    by_id = [authorization for authorization in found if str(authorization.pk) == reference]
    return (exact or by_id or found or [None])[0]


def refunds_pending_for(*, scope: LocationScope) -> QuerySet[Refund]:
    """Refunds waiting for finance, the largest first, with their return and its lines."""
    refunds = (Refund.objects.filter(status=RefundStatus.PENDING_APPROVAL)
               .select_related("return_authorization__location", "requested_by")
               .prefetch_related(Prefetch("return_authorization__lines",
                                          queryset=ReturnLine.objects.select_related("sku").order_by("pk")),
                                 _DECISIONS)
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
