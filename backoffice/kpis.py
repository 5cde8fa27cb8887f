"""The KPI dashboard's figures: each one a table (the same rows feed its chart, its CSV
export and its drill-down links), read through the apps' selectors over a time span.

Every figure is an aggregate over indexed columns. For someone who sees every location,
four of them (promises, pickups, accuracy from counts, adjustments) read the whole days of
the span from the daily rollup (`backoffice.rollup`, which says how it stays equal to the
direct queries) and query only the part days at either end directly; the benchmark,
bench/dashboard.py, times the page at a year of 300 stores × 2,000 SKUs. Scoping is the
selectors': a store user's figures are their stores', queried directly.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from urllib.parse import urlencode

from django.urls import get_script_prefix, reverse
from django.utils import timezone

from backoffice import rollup
from backoffice.models import RollupFigure
from connectors import selectors as sync_selectors
from connectors.selectors import duration_label
from exceptions import selectors as case_selectors
from exceptions.states import CaseKind, Queue, RootCause
from inventory import selectors as inventory_selectors
from orders import selectors as order_selectors
from reconciliation import selectors as reconciliation_selectors
from retailops.access import LocationScope
from returns import selectors as return_selectors

PRESET_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
# A custom span may cover at most this many days (a year of history, and a leap day).
LONGEST_SPAN_DAYS = 366


@dataclass(frozen=True)
class Span:
    """[start, end): a preset (the last N days up to now) or whole custom days."""

    start: datetime
    end: datetime
    days: int | None = None  # the preset; None for a custom span
    first_day: date | None = None
    last_day: date | None = None

    @property
    def params(self) -> dict[str, str]:
        if self.days is not None:
            return {"days": str(self.days)}
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}

    @property
    def query(self) -> str:
        return urlencode(self.params)

    @property
    def label(self) -> str:
        if self.days is not None:
            return f"the last {self.days} days"
        return f"{self.first_day:%d %b %Y} to {self.last_day:%d %b %Y}"


def span_from(params, *, now: datetime | None = None) -> tuple[Span, str]:
    """The span a request asks for, and a message when it asked for one it cannot have
    (then the default span). `days` is 7, 30 or 90; `from`/`to` are whole days, inclusive."""
    now = now or timezone.now()
    first, last = params.get("from", "").strip(), params.get("to", "").strip()
    if first or last:
        try:
            first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError:
            return preset_span(DEFAULT_DAYS, now=now), "Give both dates of a custom range as YYYY-MM-DD."
        if first_day > last_day:
            return preset_span(DEFAULT_DAYS, now=now), "The range's first day is after its last day."
        if (last_day - first_day).days + 1 > LONGEST_SPAN_DAYS:
            return preset_span(DEFAULT_DAYS, now=now), f"A custom range covers at most {LONGEST_SPAN_DAYS} days."
        zone = timezone.get_current_timezone()
        return Span(start=datetime.combine(first_day, time.min, tzinfo=zone),
                    end=datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone),
                    first_day=first_day, last_day=last_day), ""
    days = params.get("days", "")
    if not days:
        return preset_span(DEFAULT_DAYS, now=now), ""
    if days not in {str(preset) for preset in PRESET_DAYS}:
        return preset_span(DEFAULT_DAYS, now=now), "Choose 7, 30 or 90 days, or a custom range."
    return preset_span(int(days), now=now), ""


def preset_span(days: int, *, now: datetime) -> Span:
    return Span(start=now - timedelta(days=days), end=now, days=days)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | number | percent | money | duration


@dataclass
class Figure:
    """One figure: its rows (dicts keyed by the columns), the chart drawn from them, and
    for each row where the list behind it is (row["link"])."""

    key: str
    title: str
    description: str
    columns: list[Column]
    rows: list[dict] = field(default_factory=list)
    chart: str = "bar"  # bar | line
    chart_label: str = ""  # the column whose values label the bars or points
    chart_series: list[str] = field(default_factory=list)  # the columns drawn
    chart_unit: str = ""
    notes: str = ""


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1")) if whole else None


def _days(span: Span) -> list[date]:
    zone = timezone.get_current_timezone()
    first, last = timezone.localtime(span.start, zone).date(), timezone.localtime(span.end, zone).date()
    if span.days is None:
        last -= timedelta(days=1)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@lru_cache(maxsize=256)
def _url(prefix: str, url_name: str, *args) -> str:
    """reverse(), once per script prefix, name and arguments: a figure links hundreds of rows."""
    return reverse(url_name, args=args)


def _link(url_name: str, params: dict | None = None, *args) -> str:
    url = _url(get_script_prefix(), url_name, *args)
    return f"{url}?{urlencode(params)}" if params else url


@dataclass(frozen=True)
class Parts:
    """A span as the figures read it: parts queried directly, and whole days [first, last]
    read from the daily rollup (None: no whole day, or a scoped caller)."""

    direct: list[tuple[datetime, datetime]]
    days: tuple[date, date] | None


def parts_of(span: Span, *, scope: LocationScope, now: datetime) -> Parts:
    if not scope.is_all:
        return Parts(direct=[(span.start, span.end)], days=None)
    zone = timezone.get_current_timezone()
    first = timezone.localtime(span.start, zone).date()
    if rollup.midnight(first) < span.start:
        first += timedelta(days=1)
    # Whole days end at the last midnight inside the span, and never after today began.
    last_midnight_day = min(timezone.localtime(span.end, zone).date(), rollup.today(now))
    if first >= last_midnight_day:
        return Parts(direct=[(span.start, span.end)], days=None)
    low, high = rollup.midnight(first), rollup.midnight(last_midnight_day)
    direct = [(start, end) for start, end in ((span.start, low), (high, span.end)) if start < end]
    return Parts(direct=direct, days=(first, last_midnight_day - timedelta(days=1)))


def _summed(rows, key: str, measures: tuple[str, ...], into: dict) -> dict:
    for row in rows:
        total = into.setdefault(row[key], dict.fromkeys(measures, 0))
        for measure in measures:
            total[measure] += row[measure] or 0
    return into


def _location_names(scope: LocationScope, location_ids) -> dict[int, tuple[str, str]]:
    return {pk: (code, name) for pk, code, name in inventory_selectors.locations_for(scope=scope)
            .filter(pk__in=list(location_ids)).values_list("pk", "code", "name")}


# --- The figures ------------------------------------------------------------------------------


def promise_figure(*, scope: LocationScope, span: Span, now: datetime) -> Figure:
    """Short allocations (orders refused for want of stock) and failed reservations
    (checkout holds refused), as shares of the promises asked for, per day."""
    kept = {"orders": {}, "holds": {}}
    parts = parts_of(span, scope=scope, now=now)
    for start, end in parts.direct:
        for kind, per_day in order_selectors.promises_by_day(scope=scope, start=start, end=end).items():
            for day, n in per_day.items():
                kept[kind][day] = kept[kind].get(day, 0) + n
    if parts.days:
        for kind, figure in (("orders", RollupFigure.ORDERS), ("holds", RollupFigure.HOLDS)):
            for row in rollup.totals(figure, first=parts.days[0], last=parts.days[1], by=("day",), now=now):
                kept[kind][row["day"]] = kept[kind].get(row["day"], 0) + row["n"]
    refused: dict = {}
    for start, end in parts.direct:
        _summed(case_selectors.detections_by_day(kind=CaseKind.RESERVATION_FAILURE, scope=scope, start=start,
                                                 end=end), "day", ("total", "orders"), refused)
    if parts.days:
        _summed(rollup.totals(RollupFigure.REFUSALS, first=parts.days[0], last=parts.days[1], by=("day",), now=now),
                "day", ("total", "orders"), refused)
    drill = _link("cases:index", {"kind": CaseKind.RESERVATION_FAILURE, "status": "all"})
    rows = []
    for day in _days(span):
        orders, holds = kept["orders"].get(day, 0), kept["holds"].get(day, 0)
        detected = refused.get(day, {"total": 0, "orders": 0})
        short, failed = detected["orders"], detected["total"] - detected["orders"]
        rows.append({"day": day.isoformat(), "orders": orders, "short": short,
                     "short_rate": _rate(short, orders + short), "holds": holds, "failed": failed,
                     "failed_rate": _rate(failed, holds + failed), "link": drill if short or failed else ""})
    return Figure(
        key="promises", title="Short allocations and failed reservations",
        description="Per day: orders placed and orders refused for want of stock (short allocations), checkout "
                    "holds made and holds refused (failed reservations), each refusal as a share of what was "
                    "asked for. Every refusal is a detection of a reservation failure case.",
        columns=[Column("day", "Day"), Column("orders", "Orders placed", "number"),
                 Column("short", "Orders short", "number"), Column("short_rate", "Short rate", "percent"),
                 Column("holds", "Holds made", "number"), Column("failed", "Holds refused", "number"),
                 Column("failed_rate", "Failed rate", "percent")],
        rows=rows, chart="line", chart_label="day", chart_series=["short_rate", "failed_rate"], chart_unit="%",
    )


def sync_figure(*, span: Span) -> Figure:
    rows = [{"system": figure.system.code, "name": figure.system.name, "runs": figure.runs,
             "p50_ms": figure.p50_ms, "p95_ms": figure.p95_ms,
             "link": reverse("integrations:system", args=[figure.system.code])}
            for figure in sync_selectors.sync_latency_by_system(start=span.start, end=span.end)]
    return Figure(
        key="sync", title="Sync latency by system",
        description="Time from commit to the partner's acknowledgement, over the sync runs in the range: p50 is the "
                    "median of the runs' medians, p95 the 95th percentile of the runs' p95s.",
        columns=[Column("system", "System"), Column("name", "Name"), Column("runs", "Runs", "number"),
                 Column("p50_ms", "p50 (ms)", "duration"), Column("p95_ms", "p95 (ms)", "duration")],
        rows=rows, chart_label="system", chart_series=["p50_ms", "p95_ms"], chart_unit="ms",
    )


def case_figure(*, scope: LocationScope, span: Span, now: datetime) -> Figure:
    flow = case_selectors.case_flow_by_queue(scope=scope, start=span.start, end=span.end)
    aging = case_selectors.case_aging_by_queue(scope=scope, now=now)
    rows = []
    for queue in Queue:
        row = {"queue": queue.label, **flow.get(queue.value, {}), **aging.get(queue.value, {}),
               "link": _link("cases:queue", {"status": "all"}, queue.value)}
        rows.append(row)
    age_columns = [Column(key, f"Active {label.lower()}", "number") for key, label, _low, _high
                   in case_selectors.AGE_BANDS]
    return Figure(
        key="cases", title="Cases by queue",
        description="Per team queue: cases opened and closed in the range, cases whose SLA ran out in the range "
                    "before they were closed, and the cases active now by age.",
        columns=[Column("queue", "Queue"), Column("opened", "Opened", "number"), Column("closed", "Closed", "number"),
                 Column("breached", "SLA breached", "number"), *age_columns],
        rows=rows, chart_label="queue", chart_series=["opened", "closed", "breached"],
    )


COUNT_MEASURES = ("lines", "exact", "expected_units", "variance_units")
PICKUP_MEASURES = ("due", "within", "late", "missed")


def accuracy_figure(*, scope: LocationScope, span: Span, now: datetime) -> Figure:
    parts = parts_of(span, scope=scope, now=now)
    by_location: dict[int, dict] = {}
    for start, end in parts.direct:
        _summed([{**row, "location_id": row["count__location_id"]} for row in
                 inventory_selectors.count_accuracy_by_location(scope=scope, start=start, end=end)],
                "location_id", COUNT_MEASURES, by_location)
    if parts.days:
        _summed(rollup.totals(RollupFigure.COUNTS, first=parts.days[0], last=parts.days[1], by=("location_id",),
                              now=now), "location_id", COUNT_MEASURES, by_location)
    names = _location_names(scope, by_location)
    rows = []
    for location_id, total in sorted(by_location.items(), key=lambda item: names[item[0]][0]):
        code, name = names[location_id]
        expected, off = total["expected_units"], total["variance_units"]
        rows.append({
            "location": code, "name": name, "lines": total["lines"],
            "exact": total["exact"], "line_accuracy": _rate(total["exact"], total["lines"]),
            "expected_units": expected, "variance_units": off,
            "unit_accuracy": _rate(max(expected - off, 0), expected) if expected else None,
            "link": _link("dashboard:count_lines", {"location": code}),
        })
    return Figure(
        key="accuracy", title="Inventory accuracy by location",
        description="From the cycle counts submitted in the range: the share of counted lines that matched the "
                    "system, and the units off against the units the system expected.",
        columns=[Column("location", "Location"), Column("name", "Name"), Column("lines", "Lines counted", "number"),
                 Column("exact", "Lines exact", "number"), Column("line_accuracy", "Line accuracy", "percent"),
                 Column("expected_units", "Units expected", "number"),
                 Column("variance_units", "Units off", "number"), Column("unit_accuracy", "Unit accuracy", "percent")],
        rows=rows, chart_label="location", chart_series=["line_accuracy"], chart_unit="%",
        notes="Accuracy from reconciliation runs (partner snapshots against the ledger) is the next figure.",
    )


def reconciliation_accuracy_figure(*, scope: LocationScope, span: Span) -> Figure:
    rows = []
    for row in reconciliation_selectors.accuracy_by_location(scope=scope, start=span.start, end=span.end):
        rows.append({
            "location": row["location__code"], "name": row["location__name"], "runs": row["runs"],
            "lines": row["lines"], "agreeing_lines": row["agreeing_lines"],
            "line_accuracy": _rate(row["agreeing_lines"], row["lines"]),
            "unit_accuracy": _rate(row["agreeing_units"], row["units"]),
            "value": row["value"], "agreeing_value": row["agreeing_value"],
            "value_accuracy": _rate(row["agreeing_value"], row["value"]) if row["value"] else None,
            "link": _link("dashboard:reconciliation_runs", {"location": row["location__code"]}),
        })
    return Figure(
        key="reconciliation", title="Inventory accuracy from reconciliation",
        description="From the reconciliation runs of partner snapshots taken in the range (beside the cycle counts "
                    "above): the share of snapshot lines that agreed with the ledger (matched, or off only by "
                    "movements in flight), by lines, by units and by value at unit cost.",
        columns=[Column("location", "Location"), Column("name", "Name"), Column("runs", "Runs", "number"),
                 Column("lines", "Lines compared", "number"), Column("agreeing_lines", "Lines agreeing", "number"),
                 Column("line_accuracy", "Line accuracy", "percent"),
                 Column("unit_accuracy", "Unit accuracy", "percent"), Column("value", "Value compared", "money"),
                 Column("agreeing_value", "Value agreeing", "money"),
                 Column("value_accuracy", "Value accuracy", "percent")],
        rows=rows, chart_label="location", chart_series=["line_accuracy", "value_accuracy"], chart_unit="%",
    )


def _hours(duration) -> Decimal | None:
    """A duration in hours, to a tenth (whole seconds first, as the database keeps them)."""
    if duration is None:
        return None
    return (Decimal(int(duration.total_seconds())) / 3600).quantize(Decimal("0.1"))


def returns_cycle_figure(*, scope: LocationScope, span: Span) -> Figure:
    rows = [{"location": row["code"], "name": row["name"], "refunded": row["refunded"],
             **{f"{leg}_p{pct}": _hours(row[f"{leg}_p{pct}"]) for leg in return_selectors.CYCLE_LEGS
                for pct in (50, 90)},
             "link": _link("returns:list", {"location": row["code"]})}
            for row in return_selectors.return_cycle_times(scope=scope, start=span.start, end=span.end)]
    return Figure(
        key="returns", title="Returns cycle time",
        description="Per store, over the returns refunded in the range, in hours: from authorisation to the first "
                    "units received, from receipt to refund, and the whole cycle, each as median (p50) and p90 "
                    "(nearest rank). A return refunded before its units arrived counts in the whole cycle only.",
        columns=[Column("location", "Location"), Column("name", "Name"), Column("refunded", "Refunded", "number"),
                 Column("receive_p50", "To receive p50 (h)", "number"),
                 Column("receive_p90", "To receive p90 (h)", "number"),
                 Column("refund_p50", "Receipt to refund p50 (h)", "number"),
                 Column("refund_p90", "Receipt to refund p90 (h)", "number"),
                 Column("total_p50", "Whole cycle p50 (h)", "number"),
                 Column("total_p90", "Whole cycle p90 (h)", "number")],
        rows=rows, chart_label="location", chart_series=["total_p50", "total_p90"], chart_unit="h",
    )


def reason_label(reason: str) -> str:
    return reason.replace("_", " ").capitalize()


def root_cause_label(root_cause: str) -> str:
    if not root_cause:
        return "Not given"
    return RootCause(root_cause).label if root_cause in RootCause.values else root_cause


def _monday(day) -> date:
    day = day.date() if isinstance(day, datetime) else day
    return day - timedelta(days=day.weekday())


def adjustment_figure(*, scope: LocationScope, span: Span, now: datetime) -> Figure:
    parts = parts_of(span, scope=scope, now=now)
    per_day = []
    for start, end in parts.direct:
        per_day += [{**row, "day": row["week"]} for row in inventory_selectors.adjustment_value_by_week(
            scope=scope, start=start, end=end, by_day=True)]
    if parts.days:
        per_day += [{**row, "day": row["week"]} for row in rollup.totals(
            RollupFigure.ADJUSTMENTS, first=parts.days[0], last=parts.days[1], by=("week", "reason", "root_cause"),
            now=now)]
    weeks = _summed([{**row, "key": (_monday(row["day"]), row["reason"], row["root_cause"])} for row in per_day],
                    "key", ("n", "value"), {})
    rows = []
    for (week, reason, root_cause), total in sorted(weeks.items()):
        rows.append({
            "week": week.isoformat(), "reason": reason_label(reason),
            "root_cause": root_cause_label(root_cause), "adjustments": total["n"], "value": total["value"],
            "link": _link("dashboard:adjustments", {"week": week.isoformat(), "reason": reason,
                                                     "root_cause": root_cause or "-"}),
        })
    return Figure(
        key="adjustments", title="Adjustment value by reason and root cause",
        description="Applied adjustments per week (weeks start on Monday), by reason and root cause; the value is "
                    "the units changed at their unit cost.",
        columns=[Column("week", "Week of"), Column("reason", "Reason"), Column("root_cause", "Root cause"),
                 Column("adjustments", "Adjustments", "number"), Column("value", "Value", "money")],
        rows=rows, chart_label="week", chart_series=["value"], chart_unit="",
    )


def pickup_figure(*, scope: LocationScope, span: Span, now: datetime) -> Figure:
    parts = parts_of(span, scope=scope, now=now)
    by_location: dict[int, dict] = {}
    for start, end in parts.direct:
        _summed([{**row, "location_id": row["pickup_location_id"]} for row in
                 order_selectors.pickup_acknowledgement_by_location(scope=scope, start=start, end=end, now=now)],
                "location_id", PICKUP_MEASURES, by_location)
    if parts.days:
        _summed(rollup.totals(RollupFigure.PICKUPS, first=parts.days[0], last=parts.days[1], by=("location_id",),
                              now=now), "location_id", PICKUP_MEASURES, by_location)
    names = _location_names(scope, by_location)
    rows = []
    for location_id, total in sorted(by_location.items(), key=lambda item: names[item[0]][0]):
        code, name = names[location_id]
        rows.append({
            "location": code, "name": name, "due": total["due"],
            "within": total["within"], "late": total["late"], "missed": total["missed"],
            "within_rate": _rate(total["within"], total["due"]),
            "link": _link("orders:list", {"fulfillment": "pickup", "location": code}),
        })
    return Figure(
        key="pickups", title="Pickups acknowledged within their window",
        description="Pickup orders whose acknowledgement fell due in the range, per store: acknowledged in time, "
                    "late, or not at all.",
        columns=[Column("location", "Location"), Column("name", "Name"), Column("due", "Due", "number"),
                 Column("within", "In time", "number"), Column("late", "Late", "number"),
                 Column("missed", "Not acknowledged", "number"), Column("within_rate", "In time", "percent")],
        rows=rows, chart_label="location", chart_series=["within_rate"], chart_unit="%",
    )


# Which figures a person sees: (key, permission needed).
FIGURE_PERMISSIONS = {
    "promises": "orders.view_order",
    "sync": "integrations.view_externalsystem",
    "cases": "exceptions.view_case",
    "accuracy": "inventory.view_cyclecount",
    "reconciliation": "reconciliation.view_reconciliationrun",
    "adjustments": "inventory.view_adjustment",
    "pickups": "orders.view_order",
    "returns": "returns.view_returnauthorization",
}


def figure_keys_for(user) -> list[str]:
    return [key for key, permission in FIGURE_PERMISSIONS.items() if user.has_perm(permission)]


def figure(key: str, *, scope: LocationScope, span: Span, now: datetime | None = None) -> Figure:
    now = now or timezone.now()
    if key == "promises":
        return promise_figure(scope=scope, span=span, now=now)
    if key == "sync":
        return sync_figure(span=span)
    if key == "cases":
        return case_figure(scope=scope, span=span, now=now)
    if key == "accuracy":
        return accuracy_figure(scope=scope, span=span, now=now)
    if key == "reconciliation":
        return reconciliation_accuracy_figure(scope=scope, span=span)
    if key == "returns":
        return returns_cycle_figure(scope=scope, span=span)
    if key == "adjustments":
        return adjustment_figure(scope=scope, span=span, now=now)
    if key == "pickups":
        return pickup_figure(scope=scope, span=span, now=now)
    raise KeyError(key)


def figures_for(*, user, scope: LocationScope, span: Span, now: datetime | None = None) -> list[Figure]:
    return [figure(key, scope=scope, span=span, now=now) for key in figure_keys_for(user)]


def cell_text(value, kind: str) -> str:
    """A cell as people read it (and as the CSV carries it)."""
    if value is None:
        return "—" if kind != "text" else ""
    if kind == "percent":
        return f"{value}%"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "duration":
        return duration_label(value)
    if kind == "number":
        return f"{value:,}" if isinstance(value, int) else str(value)
    return str(value)


# --- The lists behind figures that no other screen lists ---------------------------------------

LIST_LIMIT = 500


def count_line_rows(*, scope: LocationScope, span: Span, location: str) -> tuple[list[Column], list[dict]]:
    """The counted lines behind a location's accuracy (at most LIST_LIMIT, largest variance first)."""
    lines = (inventory_selectors.count_lines_submitted(scope=scope, start=span.start, end=span.end)
             .filter(count__location__code=location).select_related("count", "sku")
             .order_by("-count__submitted_at", "pk")[:LIST_LIMIT])
    rows = [{"count": f"#{line.count_id}", "submitted": timezone.localtime(line.count.submitted_at).strftime(
                 "%Y-%m-%d %H:%M"), "sku": line.sku.code, "system": line.system_quantity,
             "counted": line.counted_quantity, "variance": line.variance,
             "link": reverse("inventory:count_detail", args=[line.count_id])} for line in lines]
    columns = [Column("count", "Count"), Column("submitted", "Submitted"), Column("sku", "SKU"),
               Column("system", "Expected", "number"), Column("counted", "Counted", "number"),
               Column("variance", "Variance", "number")]
    return columns, rows


def adjustment_rows(*, scope: LocationScope, span: Span, week: date | None, reason: str,
                    root_cause: str) -> tuple[list[Column], list[dict]]:
    """The applied adjustments behind a week × reason × root cause (root cause "-": none given)."""
    adjustments = inventory_selectors.adjustments_applied(scope=scope, start=span.start, end=span.end)
    if week is not None:
        zone = timezone.get_current_timezone()
        monday = datetime.combine(week, time.min, tzinfo=zone)
        adjustments = adjustments.filter(applied_at__gte=monday, applied_at__lt=monday + timedelta(days=7))
    if reason:
        adjustments = adjustments.filter(reason=reason)
    if root_cause:
        adjustments = adjustments.filter(root_cause="" if root_cause == "-" else root_cause)
    adjustments = adjustments.select_related("sku", "location").order_by("-applied_at", "-pk")[:LIST_LIMIT]
    rows = [{"applied": timezone.localtime(adjustment.applied_at).strftime("%Y-%m-%d %H:%M"),
             "location": adjustment.location.code, "sku": adjustment.sku.code,
             "delta": adjustment.applied_delta if adjustment.applied_delta is not None else adjustment.delta,
             "reason": reason_label(adjustment.reason), "root_cause": root_cause_label(adjustment.root_cause),
             "value": adjustment.value, "link": ""} for adjustment in adjustments]
    columns = [Column("applied", "Applied"), Column("location", "Location"), Column("sku", "SKU"),
               Column("delta", "Units", "number"), Column("reason", "Reason"), Column("root_cause", "Root cause"),
               Column("value", "Value", "money")]
    return columns, rows


def reconciliation_run_rows(*, scope: LocationScope, span: Span, location: str) -> tuple[list[Column], list[dict]]:
    """The runs behind a location's reconciliation accuracy (at most LIST_LIMIT, newest first)."""
    accuracy = reconciliation_selectors.accuracy_rows_at(scope=scope, start=span.start, end=span.end,
                                                         location_code=location)[:LIST_LIMIT]
    rows = [{"run": f"#{row.run_id}", "as_of": timezone.localtime(row.run.as_of).strftime("%Y-%m-%d %H:%M"),
             "system": row.run.system.code, "lines": row.lines, "agreeing_lines": row.agreeing_lines,
             "line_accuracy": _rate(row.agreeing_lines, row.lines), "value": row.value,
             "agreeing_value": row.agreeing_value,
             "value_accuracy": _rate(row.agreeing_value, row.value) if row.value else None,
             "link": _link("reconciliation:run", {"location": location}, row.run_id)} for row in accuracy]
    columns = [Column("run", "Run"), Column("as_of", "Snapshot as of"), Column("system", "System"),
               Column("lines", "Lines compared", "number"), Column("agreeing_lines", "Lines agreeing", "number"),
               Column("line_accuracy", "Line accuracy", "percent"), Column("value", "Value compared", "money"),
               Column("agreeing_value", "Value agreeing", "money"),
               Column("value_accuracy", "Value accuracy", "percent")]
    return columns, rows
