"""Reads of returns, scoped to the caller: their location must be in the caller's
location scope, and a partner system sees only the returns it authorised."""

from datetime import timedelta

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Prefetch, Q, QuerySet
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


def returns_refunded(*, scope: LocationScope, start, end) -> QuerySet[ReturnAuthorization]:
    """Returns refunded in [start, end) at the caller's locations."""
    return scope.filter(ReturnAuthorization.objects.filter(refunded_at__gte=start, refunded_at__lt=end))


class _PercentileDisc(Aggregate):
    """PostgreSQL's percentile_disc(p): the nearest-rank percentile (the ceil(n × p)-th
    smallest value) of an ordered set."""

    function = "percentile_disc"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), output_field=DurationField(), **extra)


def _nearest_rank(values: list, pct: int):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * pct // 100)) - 1]


CYCLE_LEGS = ("receive", "refund", "total")


def return_cycle_times(*, scope: LocationScope, start, end, percentiles=(50, 90)) -> list[dict]:
    """Per location, over the returns refunded in [start, end) at the caller's locations:
    how many, and the nearest-rank percentiles of three legs — authorised to the first
    units received ("receive"), received to refunded ("refund"), and the whole cycle
    ("total"); a return refunded before its units arrived counts in the whole cycle only.
    Keys: location_id, code, name, refunded, and e.g. receive_p50 (a timedelta or None).

    On PostgreSQL the percentiles are computed in the database (a year of returns is
    never read); elsewhere from the returns' three times."""
    refunded = returns_refunded(scope=scope, start=start, end=end)
    received_first = Q(received_at__isnull=False, received_at__lte=F("refunded_at"))
    legs = {"receive": (F("received_at") - F("created_at"), received_first),
            "refund": (F("refunded_at") - F("received_at"), received_first),
            "total": (F("refunded_at") - F("created_at"), None)}
    if connection.vendor == "postgresql":
        aggregates = {f"{leg}_p{pct}": _PercentileDisc(ExpressionWrapper(value, output_field=DurationField()),
                                                        fraction=pct / 100, filter=condition)
                      for leg, (value, condition) in legs.items() for pct in percentiles}
        rows = (refunded.values("location_id", "location__code", "location__name")
                .annotate(refunded=Count("pk"), **aggregates).order_by("location__code"))
        return [{"code": row.pop("location__code"), "name": row.pop("location__name"), **row} for row in rows]
    by_location: dict[int, dict] = {}
    for location_id, code, name, authorised, received, refunded_at in refunded.values_list(
            "location_id", "location__code", "location__name", "created_at", "received_at", "refunded_at"
    ).order_by("location__code"):
        at = by_location.setdefault(location_id, {"code": code, "name": name, "receive": [], "refund": [],
                                                  "total": []})
        at["total"].append(refunded_at - authorised)
        if received is not None and received <= refunded_at:
            at["receive"].append(received - authorised)
            at["refund"].append(refunded_at - received)
    return [{"location_id": location_id, "code": at["code"], "name": at["name"], "refunded": len(at["total"]),
             **{f"{leg}_p{pct}": _nearest_rank(at[leg], pct) for leg in CYCLE_LEGS for pct in percentiles}}
            for location_id, at in by_location.items()]
