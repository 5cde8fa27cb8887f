"""Reads of cases, always scoped to the caller's locations.

A queue is a saved filter: a team (or every team, or "mine") plus the filters a person
picks. The queue page costs the same few queries for any number of cases: one count, one
page of rows with their SKU, location and assignee joined, one count per kind, one aging
aggregate.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from exceptions.models import Case, CaseComment
from exceptions.priority import band_range
from exceptions.states import ACTIVE_STATUSES, CaseKind, CaseStatus, Queue
from retailops.access import LOCATION_PERMISSION, LocationScope
from retailops.roles import Role

# Queue (team) → the role whose members work it.
QUEUE_ROLES = {
    Queue.INVENTORY_CONTROL: Role.INVENTORY_CONTROL,
    Queue.STORE_OPS: Role.STORE_OPS,
    Queue.FINANCE: Role.FINANCE,
    Queue.INTEGRATION: Role.INTEGRATION_SUPPORT,
}

# Status filter values beyond the statuses themselves.
STATUS_ACTIVE = "active"
STATUS_ESCALATED = "escalated"
STATUS_ALL = "all"
STATUS_FILTERS = [
    (STATUS_ACTIVE, "Active"),
    (STATUS_ESCALATED, "Escalated"),
    *CaseStatus.choices,
    (STATUS_ALL, "All"),
]

# Age filter: (value, label, minimum age); "overdue" means past its SLA.
AGE_FILTERS = [
    ("1d", "Older than 1 day", timedelta(days=1)),
    ("3d", "Older than 3 days", timedelta(days=3)),
    ("7d", "Older than 7 days", timedelta(days=7)),
]
AGE_OVERDUE = "overdue"

ASSIGNEE_ME = "me"
ASSIGNEE_NOBODY = "none"

RANK = ("-escalated", "-priority", "-id")


@dataclass(frozen=True)
class QueueFilters:
    queue: str = ""  # a team, or "" for every team
    mine: bool = False  # only the caller's own cases
    kind: str = ""
    status: str = STATUS_ACTIVE
    location: str = ""  # location code
    assignee: str = ""  # "", "me" or "none"
    age: str = ""
    band: str = ""

    @property
    def is_whole_queue(self) -> bool:
        """Every active case of the team: the summary's total is then the page count too."""
        return (self.status == STATUS_ACTIVE and not (self.kind or self.location or self.assignee or self.age
                                                      or self.band))


def cases_for(*, scope: LocationScope) -> QuerySet[Case]:
    """Every case the caller may see: a location-scoped caller sees only cases at their
    locations (cases bound to no location are not theirs)."""
    return scope.filter(Case.objects.all())


def active_cases(*, kind: str | None = None) -> QuerySet[Case]:
    """Every active case (of one kind, when given), whatever its location: for detectors."""
    cases = Case.objects.filter(status__in=ACTIVE_STATUSES)
    return cases if kind is None else cases.filter(kind=kind)


def active_cases_about(*, location_id: int, kinds, sku_ids=None) -> QuerySet[Case]:
    """The active cases of these kinds at one location (about these SKUs, when given)."""
    cases = Case.objects.filter(location_id=location_id, kind__in=list(kinds), status__in=ACTIVE_STATUSES)
    return cases if sku_ids is None else cases.filter(sku_id__in=list(sku_ids))


def queue_cases(*, scope: LocationScope, user, filters: QueueFilters) -> QuerySet[Case]:
    """The queue's cases, escalated first, then by priority (highest first)."""
    cases = _team_cases(scope=scope, user=user, filters=filters)
    cases = _with_status(cases, filters.status)
    if filters.kind:
        cases = cases.filter(kind=filters.kind)
    if filters.location:
        cases = cases.filter(location__code=filters.location)
    if filters.assignee == ASSIGNEE_ME:
        cases = cases.filter(assignee=user)
    elif filters.assignee == ASSIGNEE_NOBODY:
        cases = cases.filter(assignee__isnull=True)
    now = timezone.now()
    if filters.age == AGE_OVERDUE:
        cases = cases.filter(sla_due_at__lt=now)
    else:
        for value, _label, minimum in AGE_FILTERS:
            if filters.age == value:
                cases = cases.filter(first_seen_at__lte=now - minimum)
    if filters.band:
        floor, ceiling = band_range(filters.band)
        cases = cases.filter(priority__gte=floor)
        if ceiling is not None:
            cases = cases.filter(priority__lt=ceiling)
    return cases.select_related("sku", "location", "assignee").order_by(*RANK)


def _team_cases(*, scope: LocationScope, user, filters: QueueFilters) -> QuerySet[Case]:
    cases = cases_for(scope=scope)
    if filters.queue:
        cases = cases.filter(queue=filters.queue)
    if filters.mine:
        cases = cases.filter(assignee=user)
    return cases


def _with_status(cases: QuerySet[Case], status: str) -> QuerySet[Case]:
    if status == STATUS_ALL:
        return cases
    if status == STATUS_ESCALATED:
        return cases.filter(status__in=ACTIVE_STATUSES, escalated=True)
    if status in CaseStatus.values:
        return cases.filter(status=status)
    return cases.filter(status__in=ACTIVE_STATUSES)


@dataclass
class QueueSummary:
    """What is at the top of a queue: active cases per kind, and how old they are."""

    kinds: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, label, count)
    total: int = 0
    aging: list[tuple[str, int]] = field(default_factory=list)  # (label, count)
    overdue: int = 0
    escalated: int = 0


def queue_summary(*, scope: LocationScope, user, filters: QueueFilters) -> QueueSummary:
    """Counts over the team's active cases (whatever the other filters), in one query: per
    kind, with the aging buckets as filtered counts, summed here."""
    active = _team_cases(scope=scope, user=user, filters=filters).filter(status__in=ACTIVE_STATUSES)
    now = timezone.now()
    day = timedelta(days=1)
    buckets = {
        "under_1d": Q(first_seen_at__gt=now - day),
        "d1_3": Q(first_seen_at__lte=now - day, first_seen_at__gt=now - 3 * day),
        "d3_7": Q(first_seen_at__lte=now - 3 * day, first_seen_at__gt=now - 7 * day),
        "over_7d": Q(first_seen_at__lte=now - 7 * day),
        "overdue": Q(sla_due_at__lt=now),
        "escalated": Q(escalated=True),
    }
    # COUNT(kind), not COUNT(id): every column read is in case_active_queue_summary, so
    # PostgreSQL answers from that index alone.
    rows = list(active.order_by().values("kind").annotate(
        n=Count("kind"), **{name: Count("kind", filter=condition) for name, condition in buckets.items()}))
    totals = {name: sum(row[name] for row in rows) for name in buckets}
    labels = dict(CaseKind.choices)
    return QueueSummary(
        kinds=sorted(((row["kind"], labels.get(row["kind"], row["kind"]), row["n"]) for row in rows),
                     key=lambda kind: -kind[2]),
        total=sum(row["n"] for row in rows),
        aging=[("< 1 day", totals["under_1d"]), ("1–3 days", totals["d1_3"]), ("3–7 days", totals["d3_7"]),
               ("> 7 days", totals["over_7d"])],
        overdue=totals["overdue"],
        escalated=totals["escalated"],
    )


def case_detail(*, scope: LocationScope, case_id: int) -> Case:
    return cases_for(scope=scope).select_related("sku", "location", "assignee", "resolved_by",
                                                  "subject_type").get(pk=case_id)


@dataclass(frozen=True)
class ActivityEntry:
    at: object
    who: str
    what: str
    detail: str = ""
    is_comment: bool = False


def case_activity(case: Case) -> list[ActivityEntry]:
    """The case's history (every change, who and why) and its comments, oldest first."""
    from exceptions.states import RootCause

    causes = dict(RootCause.choices)
    entries: list[ActivityEntry] = []
    rows = list(case.history.select_related("history_user", "assignee").order_by("history_date", "history_id"))
    for row in rows:
        who = row.history_user.get_username() if row.history_user else "system"
        detail = ""
        if row.status == CaseStatus.RESOLVED and (row.history_change_reason or "").startswith(
                ("resolved", "condition cleared")):
            detail = f"Root cause: {causes.get(row.root_cause, row.root_cause)}"
            if row.resolution_note:
                detail += f" — {row.resolution_note}"
        elif row.status == CaseStatus.DISMISSED and (row.history_change_reason or "").startswith("dismissed"):
            detail = f"Reason: {row.resolution_note}"
        elif row.status == CaseStatus.ASSIGNED and row.assignee:
            detail = f"Assignee: {row.assignee.get_username()}"
        entries.append(ActivityEntry(at=row.history_date, who=who, what=row.history_change_reason or "changed",
                                     detail=detail))
    for comment in CaseComment.objects.filter(case=case).select_related("author").order_by("created_at"):
        entries.append(ActivityEntry(at=comment.created_at, who=comment.author.get_username(), what="commented",
                                     detail=comment.body, is_comment=True))
    return sorted(entries, key=lambda entry: entry.at)


def assignee_choices(*, queue: str, location_id: int | None = None):
    """People who work a team's queue (at the location, for store operations): one query."""
    users = get_user_model().objects.filter(is_active=True, groups__name=QUEUE_ROLES.get(queue, ""))
    if queue == Queue.STORE_OPS and location_id is not None:
        users = users.filter(locationuserobjectpermission__content_object_id=location_id,
                             locationuserobjectpermission__permission__codename=LOCATION_PERMISSION)
    return users.order_by("username").distinct()


def cases_raised_by_location(*, kind: str, since) -> dict[int, int]:
    """How many times cases of `kind` were seen at each location since `since` (their
    occurrences, counted for cases first seen since then): location id → occurrences."""
    rows = (Case.objects.filter(kind=kind, first_seen_at__gte=since, location__isnull=False)
            .values("location_id").annotate(seen=Sum("occurrences")).values_list("location_id", "seen"))
    return dict(rows)


# --- Figures for the KPI dashboard (backoffice.kpis): aggregates over indexed columns ---------

# Active cases by age on the dashboard: (label, lower bound of age, upper bound or None).
AGE_BANDS = [
    ("under_1d", "Under 1 day", timedelta(0), timedelta(days=1)),
    ("1d_3d", "1–3 days", timedelta(days=1), timedelta(days=3)),
    ("3d_7d", "3–7 days", timedelta(days=3), timedelta(days=7)),
    ("over_7d", "Over 7 days", timedelta(days=7), None),
]


def case_flow_by_queue(*, scope: LocationScope, start, end) -> dict[str, dict[str, int]]:
    """Per queue: cases opened (first seen) and closed (resolved or dismissed) in
    [start, end), and the cases whose SLA ran out in that span before they were closed."""
    cases = cases_for(scope=scope)
    flow: dict[str, dict[str, int]] = {queue: {"opened": 0, "closed": 0, "breached": 0} for queue in Queue.values}
    # COUNT(*), not of the id: the indexes on the three times carry the queue, so counting
    # rows needs only the index.
    opened = cases.filter(first_seen_at__gte=start, first_seen_at__lt=end).values("queue").annotate(n=Count("*"))
    closed = cases.filter(resolved_at__gte=start, resolved_at__lt=end).values("queue").annotate(n=Count("*"))
    breached = sla_breaches(scope=scope, start=start, end=end).values("queue").annotate(n=Count("*"))
    for rows, name in ((opened, "opened"), (closed, "closed"), (breached, "breached")):
        for row in rows.order_by():
            flow.setdefault(row["queue"], {"opened": 0, "closed": 0, "breached": 0})[name] = row["n"]
    return flow


def sla_breaches(*, scope: LocationScope, start, end, now=None) -> QuerySet[Case]:
    """Cases whose SLA fell due in [start, end) (and before now) while they were still
    open: never closed, or closed after it."""
    now = now or timezone.now()
    return cases_for(scope=scope).filter(sla_due_at__gte=start, sla_due_at__lt=min(end, now)).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gt=F("sla_due_at")))


def case_aging_by_queue(*, scope: LocationScope, now=None) -> dict[str, dict[str, int]]:
    """Active cases now, per queue and age band (age since first seen), in one query."""
    now = now or timezone.now()
    bands = {
        key: Count("pk", filter=Q(first_seen_at__lte=now - low) & (Q(first_seen_at__gt=now - high) if high else Q()))
        for key, _label, low, high in AGE_BANDS
    }
    rows = (cases_for(scope=scope).filter(status__in=ACTIVE_STATUSES).values("queue").annotate(**bands)
            .order_by())
    aging = {queue: dict.fromkeys(bands, 0) for queue in Queue.values}
    for row in rows:
        aging[row["queue"]] = {key: row[key] for key in bands}
    return aging


def detections_by_day(*, kind: str, scope: LocationScope, start, end) -> QuerySet[dict]:
    """How many times a kind was detected per day, split by the document the report named
    (its context's "document", e.g. "order W-1" or "reservation r-7"): each raise writes
    one history row ("detected", or "detected again" for a repeat), so repeats count."""
    history = Case.history.filter(kind=kind, history_date__gte=start, history_date__lt=end,
                                  history_change_reason__in=("detected", "detected again"))
    if not scope.is_all:
        history = history.filter(location_id__in=scope.location_ids)
    return history.annotate(day=TruncDate("history_date")).values("day").annotate(
        total=Count("pk"), orders=Count("pk", filter=Q(context__document__startswith="order ")),
    ).order_by("day")
