"""The KPI dashboard screens: the figures over a time span, each figure's CSV, and the
lists behind the figures no other screen lists. Thin: the figures are backoffice.kpis."""

import csv
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from backoffice import kpis
from retailops.access import location_scope
from retailops.replica import replica_reads

# A spreadsheet must not run a cell as a formula: text starting with one of these is quoted.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() hands the line back: csv.writer into a stream."""

    def write(self, value):
        return value


def _csv_value(value, kind: str):
    if value is None:
        return ""
    text = str(value)
    if kind == "text" and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _streamed_csv(*, columns, rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([column.label for column in columns])
        for row in rows:
            yield writer.writerow([_csv_value(row.get(column.key), column.kind) for column in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _span(request) -> kpis.Span:
    span, problem = kpis.span_from(request.GET)
    if problem:
        messages.error(request, f"{problem} Showing the last {kpis.DEFAULT_DAYS} days instead.")
    return span


def _span_slug(span: kpis.Span) -> str:
    zone = timezone.get_current_timezone()
    last = timezone.localtime(span.end, zone).date() if span.days is not None else span.last_day
    return f"{timezone.localtime(span.start, zone).date():%Y%m%d}-{last:%Y%m%d}"


@require_GET
@login_required
@replica_reads()
def dashboard(request):
    span = _span(request)
    figures = kpis.figures_for(user=request.user, scope=location_scope(request), span=span)
    return render(request, "backoffice/dashboard.html", {
        "figures": figures, "span": span, "presets": kpis.PRESET_DAYS,
        "first_day": span.first_day or timezone.localtime(span.start).date(),
        "last_day": span.last_day or timezone.localtime(span.end).date(),
    })


@require_GET
@login_required
@replica_reads()
def figure_csv(request, key: str):
    if key not in kpis.figure_keys_for(request.user):
        raise Http404("No such figure.")
    span, _problem = kpis.span_from(request.GET)
    figure = kpis.figure(key, scope=location_scope(request), span=span)
    return _streamed_csv(columns=figure.columns, rows=figure.rows, filename=f"{key}-{_span_slug(span)}.csv")


def _list_page(request, *, title: str, description: str, columns, rows, span, back: str, filename: str):
    if request.GET.get("format") == "csv":
        return _streamed_csv(columns=columns, rows=rows, filename=filename)
    query = request.GET.copy()
    query["format"] = "csv"
    return render(request, "backoffice/dashboard_list.html", {
        "title": title, "description": description, "columns": columns, "rows": rows, "span": span,
        "csv_query": query.urlencode(), "back": back, "limit": kpis.LIST_LIMIT,
    })


@require_GET
@login_required
@permission_required("inventory.view_cyclecount", raise_exception=True)
@replica_reads()
def count_lines(request):
    span = _span(request)
    location = request.GET.get("location", "").strip()
    columns, rows = kpis.count_line_rows(scope=location_scope(request), span=span, location=location)
    return _list_page(request, title=f"Counted lines at {location or 'no location'}",
                      description=f"Lines of the counts submitted in {span.label}, newest first.",
                      columns=columns, rows=rows, span=span, back="accuracy",
                      filename=f"count-lines-{location}-{_span_slug(span)}.csv")


@require_GET
@login_required
@permission_required("inventory.view_adjustment", raise_exception=True)
@replica_reads()
def adjustments(request):
    span = _span(request)
    week = None
    if request.GET.get("week"):
        try:
            week = date.fromisoformat(request.GET["week"])
        except ValueError:
            messages.error(request, "The week is not a date (YYYY-MM-DD); showing every week of the range.")
    reason, root_cause = request.GET.get("reason", "").strip(), request.GET.get("root_cause", "").strip()
    columns, rows = kpis.adjustment_rows(scope=location_scope(request), span=span, week=week, reason=reason,
                                         root_cause=root_cause)
    parts = [f"week of {week:%d %b %Y}" if week else "", kpis.reason_label(reason) if reason else "",
             kpis.root_cause_label("" if root_cause == "-" else root_cause) if root_cause else ""]
    return _list_page(request, title="Applied adjustments",
                      description=f"In {span.label}: " + (", ".join(part for part in parts if part) or "all") + ".",
                      columns=columns, rows=rows, span=span, back="adjustments",
                      filename=f"adjustments-{_span_slug(span)}.csv")


@require_GET
@login_required
@permission_required("reconciliation.view_reconciliationrun", raise_exception=True)
@replica_reads()
def reconciliation_runs(request):
    span = _span(request)
    location = request.GET.get("location", "").strip()
    columns, rows = kpis.reconciliation_run_rows(scope=location_scope(request), span=span, location=location)
    return _list_page(request, title=f"Reconciliation runs at {location or 'no location'}",
                      description=f"The runs of snapshots taken in {span.label} that compared {location or 'it'}, "
                                  "newest first; each opens on that location's lines.",
                      columns=columns, rows=rows, span=span, back="reconciliation",
                      filename=f"reconciliation-runs-{location}-{_span_slug(span)}.csv")
