"""Reads of reconciliation runs and their lines, scoped to the caller.

A partner token sees the runs of its own system only, and of their lines those at the
locations in its scope (plus lines whose location code the ledger does not know: the
partner sent them, and they are at no location anyone else scopes). Staff with every
location see everything; store operations see their stores' lines only.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from inventory.models import Bucket
from inventory.selectors import movements_around, on_hand_by_level, on_hand_moved_after
from reconciliation.models import LineDecision, ReconciliationLine, ReconciliationRun, RunAccuracy
from reconciliation.states import Classification, Decision, RunStatus
from retailops.access import LocationScope


def runs_for(*, system_id: int | None) -> QuerySet[ReconciliationRun]:
    """Every run for staff (`system_id` None); a partner's own system's otherwise."""
    runs = ReconciliationRun.objects.select_related("system")
    return runs if system_id is None else runs.filter(system_id=system_id)


def run_lines_for(*, run: ReconciliationRun, scope: LocationScope,
                  unknown_locations: bool = False) -> QuerySet[ReconciliationLine]:
    """A run's lines the caller may see; `unknown_locations` adds those whose location
    code the ledger does not know (for the partner that sent them)."""
    lines = ReconciliationLine.objects.filter(run=run)
    if scope.is_all:
        return lines
    visible = Q(location_id__in=scope.location_ids)
    if unknown_locations:
        visible |= Q(location__isnull=True)
    return lines.filter(visible)


# --- Review screens: a run's figures as the caller may see them, lines filtered, one line
# explained by the ledger around the snapshot's time. A scoped caller's run figures are
# counted from the lines they may see, never the run's whole summary. ------------------------

ZERO = Decimal("0")


def runs_list(*, system_id: int | None = None, status: str | None = None) -> QuerySet[ReconciliationRun]:
    """Runs, newest first (the index on status / system, then creation)."""
    runs = runs_for(system_id=system_id)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-pk")


def run_systems() -> list[tuple[int, str, str]]:
    """The systems that have runs, as (id, code, name), for the runs list's filter."""
    return list(ReconciliationRun.objects.order_by("system__code").values_list("system_id", "system__code",
                                                                             "system__name").distinct())


def run_by_id(run_id: int) -> ReconciliationRun:
    """One run with its system (ReconciliationRun.DoesNotExist otherwise)."""
    return ReconciliationRun.objects.select_related("system", "snapshot").get(pk=run_id)


@dataclass(frozen=True)
class RunFigures:
    """A run's summary as the caller may see it."""

    lines: int
    matched: int
    timing: int
    variance: int
    missing_in_ledger: int
    variance_value: Decimal
    undecided: int

    @property
    def matched_percent(self) -> Decimal | None:
        if not self.lines:
            return None
        return (Decimal(self.matched) * 100 / self.lines).quantize(Decimal("0.1"))


def _figures_query(lines: QuerySet[ReconciliationLine]) -> QuerySet:
    variance = Q(classification=Classification.VARIANCE)
    return lines.values("run_id").annotate(
        n_lines=Count("pk"),
        n_matched=Count("pk", filter=Q(classification=Classification.MATCHED)),
        n_timing=Count("pk", filter=Q(classification=Classification.TIMING)),
        n_variance=Count("pk", filter=variance),
        n_missing=Count("pk", filter=Q(classification=Classification.MISSING_IN_LEDGER)),
        value=Sum("value", filter=variance),
        n_undecided=Count("pk", filter=variance & Q(decision=Decision.UNDECIDED)),
    ).order_by("run_id")


def run_figures(runs: list[ReconciliationRun], *, scope: LocationScope) -> dict[int, RunFigures]:
    """Each run's figures, by run id, in one query for any number of runs: a central role
    gets the stored summary (and the undecided count), a scoped caller the counts of the
    lines at their locations."""
    if not runs:
        return {}
    lines = ReconciliationLine.objects.filter(run_id__in=[run.pk for run in runs])
    if scope.is_all:
        lines = lines.filter(classification=Classification.VARIANCE)
    counted = {row["run_id"]: row for row in _figures_query(scope.filter(lines))}
    figures = {}
    for run in runs:
        row = counted.get(run.pk, {})
        if scope.is_all:
            figures[run.pk] = RunFigures(run.lines, run.matched, run.timing, run.variance, run.missing_in_ledger,
                                         run.variance_value, row.get("n_undecided", 0))
        else:
            figures[run.pk] = RunFigures(row.get("n_lines", 0), row.get("n_matched", 0), row.get("n_timing", 0),
                                         row.get("n_variance", 0), row.get("n_missing", 0),
                                         row.get("value") or ZERO, row.get("n_undecided", 0))
    return figures


@dataclass(frozen=True)
class LineFilter:
    """What the run detail and its CSV export narrow lines to (all optional)."""

    classification: str = ""
    decision: str | None = None  # None: any; "" undecided
    location_code: str = ""
    sku_code: str = ""
    min_value: Decimal | None = None


def lines_for(*, run: ReconciliationRun, scope: LocationScope, filters: LineFilter = LineFilter()
              ) -> QuerySet[ReconciliationLine]:
    """A run's lines the caller may see, costliest first (value is |difference| × unit
    cost, so never negative), then in the order the run wrote them."""
    lines = scope.filter(ReconciliationLine.objects.filter(run=run))
    if filters.classification:
        lines = lines.filter(classification=filters.classification)
    if filters.decision is not None:
        lines = lines.filter(decision=filters.decision)
    if filters.location_code:
        lines = lines.filter(location_code=filters.location_code)
    if filters.sku_code:
        lines = lines.filter(sku_code=filters.sku_code)
    if filters.min_value is not None:
        lines = lines.filter(value__gte=filters.min_value)
    return lines.select_related("decided_by").order_by("-value", "pk")


def lines_with_decisions(lines: QuerySet[ReconciliationLine]) -> QuerySet[ReconciliationLine]:
    """`lines` with their decisions (oldest first) and what each made, in one more query."""
    return lines.prefetch_related(Prefetch("decisions", queryset=decisions_log()))


def decisions_log() -> QuerySet[LineDecision]:
    return LineDecision.objects.select_related("actor", "adjustment", "case", "outbox_message").order_by(
        "created_at", "pk")


def line_for(*, scope: LocationScope, line_id: int) -> ReconciliationLine:
    """One line the caller may see, with its run, system and decisions
    (ReconciliationLine.DoesNotExist otherwise)."""
    lines = scope.filter(ReconciliationLine.objects.select_related("run__system", "decided_by"))
    return lines_with_decisions(lines).get(pk=line_id)


def decisions_recent(*, run: ReconciliationRun, scope: LocationScope, limit: int = 20) -> list[LineDecision]:
    """The run's latest decisions on lines the caller may see, newest first."""
    decisions = scope.filter(LineDecision.objects.filter(line__run=run), field="line__location")
    return list(decisions.select_related("actor", "line", "adjustment", "case").order_by("-created_at", "-pk")[:limit])


def run_history(run: ReconciliationRun, *, limit: int = 10) -> list:
    """The run's latest status changes, newest first, with who and why."""
    return list(run.history.select_related("history_user").order_by("-history_date", "-history_id")[:limit])


@dataclass(frozen=True)
class StoryRow:
    """One movement beside a line's as-of time, with on-hand after it (None: another bucket)."""

    movement: object
    on_hand_after: int | None


@dataclass(frozen=True)
class LedgerStory:
    """The movements of a line's SKU × location around the run's `as_of`, explaining it:
    the ledger as of `as_of` re-derived now (a fact that arrived late moves it), on-hand
    now, and the nearest movements on each side."""

    before: list[StoryRow]
    after: list[StoryRow]
    on_hand_then: int
    on_hand_now: int
    more_before: bool
    more_after: bool


def line_ledger_story(line: ReconciliationLine, *, each_side: int = 15) -> LedgerStory | None:
    """None for a line the ledger does not know (no SKU or location)."""
    if line.sku_id is None or line.location_id is None:
        return None
    key = (line.sku_id, line.location_id)
    moment = line.run.as_of
    before, after = movements_around(key, moment=moment, each_side=each_side + 1)
    on_hand_now = on_hand_by_level([key]).get(key, 0)
    on_hand_then = on_hand_now - on_hand_moved_after(key, moment=moment)
    more_before, more_after = len(before) > each_side, len(after) > each_side
    before, after = before[-each_side:], after[:each_side]
    rows_before, balance = [], on_hand_then
    for movement in reversed(before):  # newest first, walking back from as_of
        rows_before.append(StoryRow(movement, balance if movement.bucket == Bucket.ON_HAND else None))
        if movement.bucket == Bucket.ON_HAND:
            balance -= movement.delta
    rows_after, balance = [], on_hand_then
    for movement in after:
        if movement.bucket == Bucket.ON_HAND:
            balance += movement.delta
        rows_after.append(StoryRow(movement, balance if movement.bucket == Bucket.ON_HAND else None))
    return LedgerStory(before=rows_before[::-1], after=rows_after, on_hand_then=on_hand_then,
                       on_hand_now=on_hand_now, more_before=more_before, more_after=more_after)


# --- Figures for the KPI dashboard (backoffice.kpis) and location confidence ---------------

# Runs whose lines are classified: the accuracy rows are written when a run finishes.
FINISHED_RUN_STATUSES = (RunStatus.REVIEW, RunStatus.CLOSED)


def run_accuracy_in(*, scope: LocationScope, start, end) -> QuerySet[RunAccuracy]:
    """Per-location accuracy rows of the finished runs of snapshots as of [start, end), at
    the caller's locations (rows for codes the ledger does not know are left out)."""
    rows = RunAccuracy.objects.filter(run__as_of__gte=start, run__as_of__lt=end, location__isnull=False,
                                      run__status__in=FINISHED_RUN_STATUSES)
    return scope.filter(rows)


def accuracy_by_location(*, scope: LocationScope, start, end) -> QuerySet[dict]:
    """Per location, over the runs in [start, end): runs, lines and the lines that agreed
    (matched or timing), and the same by units and by value (snapshot on hand × unit cost)."""
    return (run_accuracy_in(scope=scope, start=start, end=end)
            .values("location_id", "location__code", "location__name")
            .annotate(runs=Count("run_id", distinct=True), lines=Sum("lines"), agreeing_lines=Sum("agreeing_lines"),
                      units=Sum("units"), agreeing_units=Sum("agreeing_units"), value=Sum("value"),
                      agreeing_value=Sum("agreeing_value"))
            .order_by("location__code"))


def accuracy_rows_at(*, scope: LocationScope, start, end, location_code: str) -> QuerySet[RunAccuracy]:
    """The runs behind one location's accuracy, newest first."""
    return (run_accuracy_in(scope=scope, start=start, end=end).filter(location__code=location_code)
            .select_related("run__system").order_by("-run__as_of", "-run_id"))


def variance_rate_by_location(since) -> dict[int, tuple[float, int]]:
    """Per location, over the finished runs of snapshots as of `since` or later: the share
    of lines that did not agree with the ledger (variance or missing), and the lines."""
    rows = (RunAccuracy.objects.filter(run__as_of__gte=since, location__isnull=False,
                                       run__status__in=FINISHED_RUN_STATUSES)
            .values("location_id").annotate(lines=Sum("lines"), agreeing=Sum("agreeing_lines"))
            .values_list("location_id", "lines", "agreeing"))
    return {location_id: ((lines - agreeing) / lines if lines else 0.0, lines or 0)
            for location_id, lines, agreeing in rows}
