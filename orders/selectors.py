"""Reads of orders and holds, scoped to the caller in the queryset.

A partner sees only what its own system placed; anyone with a location scope sees only
orders that touch their locations (an allocation there, or the pickup location). Both
rules are one filter on the queryset, so list views and detail views apply the same.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from simple_history.models import ModelChange

from orders.callers import Caller
from orders.models import Allocation, Order, OrderLine
from orders.states import HOLDING_STATUSES, AllocationOrigin, Fulfillment, OrderStatus
from retailops.access import LocationScope


def orders_for(*, caller: Caller) -> QuerySet[Order]:
    orders = Order.objects.all()
    if caller.is_partner:
        orders = orders.filter(external_system_id=caller.external_system_id)
    if not caller.scope.is_all:
        ids = caller.scope.location_ids
        orders = orders.filter(
            Q(pickup_location_id__in=ids)
            | Exists(Allocation.objects.filter(order=OuterRef("pk"), location_id__in=ids))
        )
    return orders


def orders_with_lines(orders: QuerySet[Order]) -> QuerySet[Order]:
    """What an order's representation needs, in a fixed number of queries for any page."""
    return orders.select_related("channel", "pickup_location").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("sku").order_by("pk")),
        Prefetch("lines__allocations", queryset=Allocation.objects.select_related("location").order_by("pk")),
    )


def reservations_for(*, caller: Caller) -> QuerySet[Allocation]:
    holds = Allocation.objects.filter(origin=AllocationOrigin.HOLD).select_related("sku", "location", "channel")
    if caller.is_partner:
        holds = holds.filter(external_system_id=caller.external_system_id)
    return caller.scope.filter(holds)


# --- Staff screens -------------------------------------------------------------------------


def orders_matching(orders: QuerySet[Order], *, status: str = "", channel_id: int | None = None,
                    fulfillment: str = "", location_id: int | None = None, external_id: str = "",
                    created_from: datetime | None = None, created_before: datetime | None = None) -> QuerySet[Order]:
    """Narrow a caller's orders by the list screen's filters; empty filters are ignored.
    An order is "at" a location when it is picked up there or allocated there."""
    if status:
        orders = orders.filter(status=status)
    if channel_id is not None:
        orders = orders.filter(channel_id=channel_id)
    if fulfillment:
        orders = orders.filter(fulfillment=fulfillment)
    if location_id is not None:
        orders = orders.filter(
            Q(pickup_location_id=location_id)
            | Exists(Allocation.objects.filter(order=OuterRef("pk"), location_id=location_id))
        )
    if external_id:
        orders = orders.filter(external_id__icontains=external_id)
    if created_from is not None:
        orders = orders.filter(created_at__gte=created_from)
    if created_before is not None:
        orders = orders.filter(created_at__lt=created_before)
    return orders


def order_status_counts(orders: QuerySet[Order]) -> dict[str, int]:
    """How many of these orders are in each status (every status listed, zeros included): one query."""
    counts = dict(orders.order_by().values_list("status").annotate(count=Count("pk")))
    return {status: counts.get(status, 0) for status in OrderStatus.values}


def orders_for_list(orders: QuerySet[Order]) -> QuerySet[Order]:
    """Newest first, with what a list row shows, in a fixed number of queries for any page:
    the page itself (line and unit totals as subqueries) and one prefetch of allocations."""
    lines = OrderLine.objects.filter(order=OuterRef("pk")).order_by().values("order")
    return (
        orders.select_related("channel", "pickup_location")
        .annotate(
            line_count=Subquery(lines.annotate(count=Count("pk")).values("count")),
            units=Subquery(lines.annotate(total=Sum("quantity")).values("total")),
        )
        .prefetch_related(Prefetch("allocations",
                                   queryset=Allocation.objects.select_related("location").order_by("pk")))
        .order_by("-created_at", "-pk")
    )


# --- The pickup counter --------------------------------------------------------------------


def pickups_awaiting(*, caller: Caller, now: datetime) -> QuerySet[Order]:
    """Pickup orders that still need the caller's pickup counters: to acknowledge them, or
    to hand them to the customer. Only orders picked up at the caller's locations count (an
    allocation there for a pickup elsewhere is not that counter's work).

    Unacknowledged ones first, earliest acknowledgement deadline first, so the overdue lead
    (`ack_overdue` marks them); then the acknowledged ones, longest waiting first. Each row
    has what an order list row has (line and unit totals), in one query for any page."""
    pickups = caller.scope.filter(
        orders_for(caller=caller).filter(fulfillment=Fulfillment.PICKUP, status=OrderStatus.ALLOCATED),
        field="pickup_location",
    )
    return (
        orders_for_list(pickups).prefetch_related(None)
        .annotate(ack_overdue=_ack_overdue(now))
        .order_by(F("pickup_acknowledged_at").asc(nulls_first=True), F("pickup_ack_due_at").asc(nulls_last=True),
                  "pk")
    )


@dataclass(frozen=True)
class PickupCounts:
    to_acknowledge: int
    overdue: int  # to acknowledge, and past the deadline
    to_hand_over: int


def pickup_counts(pickups: QuerySet[Order], *, now: datetime) -> PickupCounts:
    """How many of these pickups wait for acknowledgement (how many of them late) and for
    the customer: one query."""
    return PickupCounts(**pickups.order_by().aggregate(
        to_acknowledge=Count("pk", filter=Q(pickup_acknowledged_at__isnull=True)),
        overdue=Count("pk", filter=_ack_overdue(now)),
        to_hand_over=Count("pk", filter=Q(pickup_acknowledged_at__isnull=False)),
    ))


def _ack_overdue(now: datetime) -> Q:
    return Q(pickup_acknowledged_at__isnull=True, pickup_ack_due_at__lte=now)


# The fields whose changes the order screen shows; the rest (hashes, timestamps) are noise.
ORDER_HISTORY_FIELDS = ("status", "pickup_ack_due_at", "pickup_acknowledged_at")
ALLOCATION_HISTORY_FIELDS = ("status", "quantity", "location", "order", "line", "expires_at")


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded change of the order or of one of its allocations."""

    when: datetime
    who: object  # the User, or None for the system (e.g. the expiry sweep)
    subject: str  # "order" or "allocation"
    subject_id: int
    action: str  # "created", "changed" or "deleted"
    changes: list[ModelChange]
    reason: str
    sequence: int  # the history row id: breaks ties between changes recorded in the same instant


_HISTORY_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def order_history(*, order: Order) -> list[HistoryEntry]:
    """The order's history and that of every allocation it holds (a consumed checkout
    hold's life before the order included), merged, newest first. Two queries; the
    changes are diffs of consecutive records, computed in memory."""
    order_records = Order.history.filter(id=order.pk).select_related("history_user")
    allocation_records = Allocation.history.filter(
        id__in=Allocation.objects.filter(order_id=order.pk).values("pk")
    ).select_related("history_user")
    entries = [
        *_history_entries(order_records, subject="order", fields=ORDER_HISTORY_FIELDS),
        *_history_entries(allocation_records, subject="allocation", fields=ALLOCATION_HISTORY_FIELDS),
    ]
    entries.sort(key=lambda entry: (entry.when, entry.subject == "order", entry.sequence), reverse=True)
    return entries


def _history_entries(records, *, subject: str, fields: tuple[str, ...]) -> list[HistoryEntry]:
    entries = []
    previous_by_object: dict[int, object] = {}
    for record in records.order_by("id", "history_date", "history_id"):
        previous = previous_by_object.get(record.id)
        changes = record.diff_against(previous, included_fields=fields).changes if previous is not None else []
        previous_by_object[record.id] = record
        entries.append(HistoryEntry(
            when=record.history_date, who=record.history_user, subject=subject, subject_id=record.id,
            action=_HISTORY_ACTIONS.get(record.history_type, "changed"), changes=changes,
            reason=record.history_change_reason or "", sequence=record.history_id,
        ))
    return entries


def open_allocations_today(location_ids: set[int], *, since: datetime) -> dict[int, int]:
    """Per location: how many order allocations made since `since` (the start of today) are
    still open — what counts against its daily capacity. One query."""
    if not location_ids:
        return {}
    rows = (Allocation.objects.filter(location_id__in=sorted(location_ids), origin=AllocationOrigin.ORDER,
                                      status__in=HOLDING_STATUSES, created_at__gte=since)
            .values("location_id").annotate(open=Count("pk")).order_by())
    return {row["location_id"]: row["open"] for row in rows}


# --- Figures for the KPI dashboard (backoffice.kpis) ------------------------------------------


def promises_by_day(*, scope: LocationScope, start: datetime, end: datetime) -> dict:
    """Per day in [start, end): orders placed and checkout holds made (each one a promise
    kept). The refused ones are `reservation_failure` detections (exceptions.selectors)."""
    orders = orders_for(caller=Caller(actor=None, external_system_id=None, scope=scope))
    placed = (orders.filter(created_at__gte=start, created_at__lt=end).annotate(day=TruncDate("created_at"))
              .values("day").annotate(n=Count("pk")).order_by("day"))
    holds = (scope.filter(Allocation.objects.filter(origin=AllocationOrigin.HOLD, created_at__gte=start,
                                                    created_at__lt=end))
             .annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("pk")).order_by("day"))
    return {"orders": {row["day"]: row["n"] for row in placed}, "holds": {row["day"]: row["n"] for row in holds}}


def pickups_due(*, scope: LocationScope, start: datetime, end: datetime, now: datetime) -> QuerySet[Order]:
    """Pickup orders whose acknowledgement fell due in [start, end) and before now (so the
    window has closed), or that were acknowledged in it already."""
    pickups = Order.objects.filter(fulfillment=Fulfillment.PICKUP, pickup_ack_due_at__gte=start,
                                   pickup_ack_due_at__lt=end).filter(
        Q(pickup_ack_due_at__lt=now) | Q(pickup_acknowledged_at__isnull=False))
    return scope.filter(pickups, "pickup_location")


def pickup_acknowledgement_by_location(*, scope: LocationScope, start: datetime, end: datetime,
                                       now: datetime, by_day: bool = False) -> QuerySet[dict]:
    """Per pickup location (and per day the acknowledgement fell due, `by_day`):
    acknowledged within the window, late, and not at all."""
    within = Q(pickup_acknowledged_at__isnull=False, pickup_acknowledged_at__lte=F("pickup_ack_due_at"))
    late = Q(pickup_acknowledged_at__gt=F("pickup_ack_due_at"))
    pickups = pickups_due(scope=scope, start=start, end=end, now=now)
    keys = ["pickup_location_id", "pickup_location__code", "pickup_location__name"]
    if by_day:
        pickups, keys = pickups.annotate(day=TruncDate("pickup_ack_due_at")), ["day", *keys]
    return (pickups.values(*keys)
            .annotate(due=Count("pk"), within=Count("pk", filter=within), late=Count("pk", filter=late),
                      missed=Count("pk", filter=Q(pickup_acknowledged_at__isnull=True)))
            .order_by(*keys[:-3], "pickup_location__code"))
