"""Reads for the integration health screens.

Health is computed for every system at once in a fixed number of queries (outbox counts
grouped by system, a bounded sample of recent deliveries for latency), so the overview
costs the same with three systems or thirty.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, Min, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from connectors.relay import percentile
from integrations.models import ExternalSystem, OutboxMessage, SyncRun
from integrations.outbox import message_levels
from inventory.selectors import location_codes, sku_codes

# Success and failure rates look back this far.
HEALTH_WINDOW = timedelta(hours=24)
# Freshness (commit → partner receipt) looks back this far.
FRESHNESS_WINDOW = timedelta(hours=1)
# Latency percentiles come from at most this many of each system's latest deliveries in
# the window: enough for a stable p95, bounded however busy the system is.
LATENCY_SAMPLE = 500
RECENT_RUNS = 20
RECENT_ACTIONS = 10

Status = OutboxMessage.Status


def duration_label(milliseconds: int | None) -> str:
    """A duration for people: "850 ms", "2.4 s", "12 min", "3.5 h"; "—" when unknown."""
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class SystemHealth:
    system: ExternalSystem
    backlog: int = 0
    retrying: int = 0  # pending messages that have failed at least once
    oldest_pending_at: datetime | None = None
    dead_letters: int = 0
    delivered_in_window: int = 0
    failed_in_window: int = 0  # moved to dead letter within the window
    latency_p50_ms: int | None = None
    latency_p95_ms: int | None = None
    latency_sample: int = 0
    window: timedelta = field(default=HEALTH_WINDOW)
    # Freshness: how old the oldest undelivered change is now, and commit → receipt over
    # the last FRESHNESS_WINDOW.
    lag_ms: int | None = None
    freshness_p50_ms: int | None = None
    freshness_p95_ms: int | None = None
    freshness_sample: int = 0

    @property
    def lag(self) -> str:
        return duration_label(self.lag_ms) if self.lag_ms is not None else "none"

    @property
    def is_lagging(self) -> bool:
        return self.lag_ms is not None and self.lag_ms > self.system.lag_threshold_seconds * 1000

    @property
    def freshness_p50(self) -> str:
        return duration_label(self.freshness_p50_ms)

    @property
    def freshness_p95(self) -> str:
        return duration_label(self.freshness_p95_ms)

    @property
    def settled_in_window(self) -> int:
        return self.delivered_in_window + self.failed_in_window

    @property
    def success_rate(self) -> float | None:
        """Delivered share of the messages settled in the window; None when none settled."""
        if not self.settled_in_window:
            return None
        return 100 * self.delivered_in_window / self.settled_in_window

    @property
    def failure_rate(self) -> float | None:
        return None if self.success_rate is None else 100 - self.success_rate

    @property
    def latency_p50(self) -> str:
        return duration_label(self.latency_p50_ms)

    @property
    def latency_p95(self) -> str:
        return duration_label(self.latency_p95_ms)

    @property
    def is_degraded(self) -> bool:
        return (self.system.paused or self.system.circuit_state != ExternalSystem.Circuit.CLOSED
                or self.dead_letters > 0 or self.retrying > 0 or self.is_lagging)


def system_health(*, systems: QuerySet | None = None, now: datetime | None = None,
                  window: timedelta = HEALTH_WINDOW) -> list[SystemHealth]:
    """Health of each system (all by default), by code. Four queries whatever the count."""
    now = now or timezone.now()
    since = now - window
    systems = list((systems if systems is not None else ExternalSystem.objects.all()).order_by("code"))
    health = {system.pk: SystemHealth(system=system, window=window) for system in systems}
    if not health:
        return []

    # Delivered rows older than the window are left out before grouping: only the
    # pending, the dead and the window's outcomes count.
    counts = (
        OutboxMessage.objects
        .filter(system_id__in=health)
        .filter(Q(status__in=[Status.PENDING, Status.DEAD]) | Q(delivered_at__gte=since))
        .values("system_id")
        .annotate(
            backlog=Count("pk", filter=Q(status=Status.PENDING)),
            retrying=Count("pk", filter=Q(status=Status.PENDING, attempts__gt=0)),
            oldest_pending_at=Min("created_at", filter=Q(status=Status.PENDING)),
            dead_letters=Count("pk", filter=Q(status=Status.DEAD)),
            delivered_in_window=Count("pk", filter=Q(status=Status.DELIVERED, delivered_at__gte=since)),
            failed_in_window=Count("pk", filter=Q(status=Status.DEAD, dead_at__gte=since)),
        )
        .order_by()
    )
    for row in counts:
        entry = health[row.pop("system_id")]
        for name, value in row.items():
            setattr(entry, name, value)

    for system_id, latencies in _delivery_latencies_ms(system_ids=list(health), since=since).items():
        latencies.sort()
        entry = health[system_id]
        entry.latency_p50_ms = percentile(latencies, 50)
        entry.latency_p95_ms = percentile(latencies, 95)
        entry.latency_sample = len(latencies)

    for entry in health.values():
        if entry.oldest_pending_at is not None:
            entry.lag_ms = max(0, int((now - entry.oldest_pending_at).total_seconds() * 1000))
    fresh_since = now - FRESHNESS_WINDOW
    for system_id, latencies in _delivery_latencies_ms(system_ids=list(health), since=fresh_since).items():
        latencies.sort()
        entry = health[system_id]
        entry.freshness_p50_ms = percentile(latencies, 50)
        entry.freshness_p95_ms = percentile(latencies, 95)
        entry.freshness_sample = len(latencies)
    return list(health.values())


def system_lags(*, now: datetime | None = None) -> dict[int, int]:
    """Each outbound system's lag in milliseconds: the age of its oldest undelivered
    (pending) change; systems with nothing pending are left out. One query."""
    now = now or timezone.now()
    oldest = (
        OutboxMessage.objects.filter(status=Status.PENDING)
        .values("system_id").annotate(oldest=Min("created_at")).order_by()
        .values_list("system_id", "oldest")
    )
    return {system_id: max(0, int((now - at).total_seconds() * 1000)) for system_id, at in oldest}


def _delivery_latencies_ms(*, system_ids: list[int], since: datetime) -> dict[int, list[int]]:
    """Commit-to-acknowledgement latency of each system's latest deliveries in the window.

    Computed in Python over a bounded sample rather than with `percentile_cont`, which
    SQLite lacks: one windowed query keeps the newest LATENCY_SAMPLE rows per system.
    """
    latest = (
        OutboxMessage.objects
        .filter(system_id__in=system_ids, status=Status.DELIVERED, delivered_at__gte=since)
        .annotate(recency=Window(RowNumber(), partition_by=[F("system_id")],
                                 order_by=[F("delivered_at").desc(), F("pk").desc()]))
        .filter(recency__lte=LATENCY_SAMPLE)
        .values_list("system_id", "created_at", "delivered_at")
    )
    latencies: dict[int, list[int]] = defaultdict(list)
    for system_id, created_at, delivered_at in latest:
        latencies[system_id].append(max(0, int((delivered_at - created_at).total_seconds() * 1000)))
    return latencies


def system_by_code(*, code: str) -> ExternalSystem:
    """Raises ExternalSystem.DoesNotExist."""
    return ExternalSystem.objects.get(code=code)


def recent_runs_for(*, system: ExternalSystem, limit: int = RECENT_RUNS) -> list[SyncRun]:
    """The system's latest runs, each with `duration`, `latency_p50` and `latency_p95` labels."""
    runs = list(SyncRun.objects.filter(system=system).order_by("-started_at", "-pk")[:limit])
    for run in runs:
        run.duration = duration_label(run.duration_ms)
        run.latency_p50 = duration_label(run.latency_p50_ms)
        run.latency_p95 = duration_label(run.latency_p95_ms)
    return runs


def dead_letters_for(*, system: ExternalSystem) -> QuerySet:
    """The system's dead letters, the most recent first (paginate it)."""
    return OutboxMessage.objects.filter(system=system, status=Status.DEAD).order_by("-dead_at", "-pk")


def label_availability_levels(messages, *, shown: int = 5) -> None:
    """Give each availability message a `levels_label` naming its levels by code ("SKU-1 @
    DC1, … and 12 more"), for screens: its payload holds only ids. Two queries per call."""
    wanted = {message.pk: message_levels(message)[:shown] for message in messages
              if message.topic == OutboxMessage.Topic.AVAILABILITY}
    keys = {key for levels in wanted.values() for key in levels}
    skus = sku_codes(sku for sku, _ in keys)
    locations = location_codes(location for _, location in keys)
    for message in messages:
        if message.pk not in wanted:
            continue
        named = [f"{skus.get(sku, f'#{sku}')} @ {locations.get(location, f'#{location}')}"
                 for sku, location in wanted[message.pk]]
        hidden = len(message_levels(message)) - len(named)
        message.levels_label = ", ".join(named) + (f" and {hidden} more" if hidden > 0 else "")


def recent_actions_for(*, system: ExternalSystem, limit: int = RECENT_ACTIONS) -> list:
    """What people did to the system (pause, resume, replay, edits), newest first."""
    return list(system.history.select_related("history_user").order_by("-history_date", "-history_id")[:limit])


# --- Figures for the KPI dashboard (backoffice.kpis) ------------------------------------------


@dataclass(frozen=True)
class SyncLatency:
    system: ExternalSystem
    runs: int
    p50_ms: int | None  # the median of the runs' p50s
    p95_ms: int | None  # the 95th percentile of the runs' p95s: an upper estimate of the span's p95


def _nearest_rank(runs: QuerySet, field_name: str, pct: int, count: int) -> int | None:
    """Nearest-rank percentile of one field over `runs` (`count` of them with the field
    set), picked in the database (ordered, offset to the rank), so a year of runs is never
    read into Python."""
    if not count:
        return None
    rank = max(1, -(-count * pct // 100))
    return (runs.filter(**{f"{field_name}__isnull": False}).order_by(field_name)
            .values_list(field_name, flat=True)[rank - 1])


def sync_latency_by_system(*, start: datetime, end: datetime) -> list[SyncLatency]:
    """Commit-to-acknowledgement latency per system over the sync runs that started in
    [start, end). Each run already summarises its messages (SyncRun.latency_*), so the
    figures combine those: per system, one query counts the runs and two pick the
    percentiles, whatever the span (the index on system and start carries both latencies,
    so on PostgreSQL none of them reads the table)."""
    in_span = SyncRun.objects.filter(started_at__gte=start, started_at__lt=end, latency_p50_ms__isnull=False)
    figures = []
    for system in ExternalSystem.objects.order_by("code"):
        runs = in_span.filter(system=system)
        counted = runs.aggregate(runs=Count("latency_p50_ms"), p95_runs=Count("latency_p95_ms"))
        figures.append(SyncLatency(system=system, runs=counted["runs"],
                                   p50_ms=_nearest_rank(runs, "latency_p50_ms", 50, counted["runs"]),
                                   p95_ms=_nearest_rank(runs, "latency_p95_ms", 95, counted["p95_runs"])))
    return figures
