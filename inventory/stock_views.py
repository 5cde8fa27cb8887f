"""Staff screens of the stock inquiry: any role finds a SKU's stock by SKU or location, opens
one level (its buckets, the SKU's other locations, its ledger with filters) and exports
either as CSV; plus the pages a ledger row links to that had none (an inbound event, an
adjustment). Scoped like every read: a store user sees only their stores, and a level or
document elsewhere is a 404.
"""

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from inventory import selectors
from inventory.confidence.services import locations_score
from inventory.documents import movement_source
from inventory.eligibility import confidence_threshold
from inventory.forms import MovementFilterForm, StockSearchForm, bucket_label
from inventory.models import Adjustment, InventoryEvent, Location, LocationConfidence, StockLevel
from retailops.access import location_scope
from retailops.replica import replica_reads

VIEW_LEVELS, VIEW_LEDGER = "inventory.view_stocklevel", "inventory.view_stockmovement"
VIEW_ADJUSTMENTS = "inventory.view_adjustment"
RESCORE = "inventory.add_locationconfidence"
LEVELS_PAGE, MOVEMENTS_PAGE = 50, 50
EXPORT_CHUNK = 2000


def _reader(*permissions: str):
    def decorate(view):
        return require_GET(login_required(permission_required(list(permissions), raise_exception=True)(view)))

    return decorate


# --- CSV --------------------------------------------------------------------------------------


class _Line:
    """A file-like object whose write() hands the line back (csv.writer needs one)."""

    def write(self, value: str) -> str:
        return value


def _cell(value):
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR) is quoted
    with a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Line())
    lines = (writer.writerow([_cell(value) for value in row]) for row in rows)
    response = StreamingHttpResponse(_with_first(writer.writerow(header), lines), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _with_first(first, rest):
    yield first
    yield from rest


# --- Search -------------------------------------------------------------------------------------

LEVEL_HEADER = ["sku", "sku_name", "location", "location_name", "on_hand", "committed", "damaged",
                "quality_control", "safety_stock", "unavailable", "available", "incoming", "last_counted_at"]


@_reader(VIEW_LEVELS)
def stock_search(request):
    form = StockSearchForm(request.GET)
    query = form.query()
    levels = selectors.levels_search(scope=location_scope(request), query=query)
    page = Paginator(levels, LEVELS_PAGE).get_page(request.GET.get("page")) if query else None
    return render(request, "inventory/stock_search.html", {"form": form, "query": query, "page": page})


@_reader(VIEW_LEVELS)
@replica_reads()
def stock_search_export(request):
    query = StockSearchForm(request.GET).query()
    levels = selectors.levels_search(scope=location_scope(request), query=query)
    rows = ([level.sku.code, level.sku.name, level.location.code, level.location.name, level.on_hand,
             level.committed, level.damaged, level.quality_control, level.safety_stock, level.unavailable,
             level.available, level.incoming, level.last_counted_at.isoformat() if level.last_counted_at else ""]
            for level in levels.iterator(chunk_size=EXPORT_CHUNK))
    return _csv_response(f"stock-{timezone.localdate():%Y%m%d}.csv", LEVEL_HEADER, rows)


# --- One level ----------------------------------------------------------------------------------


def _visible_level(request, sku_code: str, location_code: str) -> StockLevel:
    try:
        return selectors.level_visible(scope=location_scope(request), sku_code=sku_code,
                                       location_code=location_code)
    except StockLevel.DoesNotExist as exc:
        raise Http404("No such stock level.") from exc


def _movement_filters(request, level: StockLevel) -> MovementFilterForm:
    return MovementFilterForm(request.GET, reasons=selectors.reasons_of_level(
        sku_id=level.sku_id, location_id=level.location_id))


@_reader(VIEW_LEVELS, VIEW_LEDGER)
def stock_level(request, sku_code: str, location_code: str):
    level = _visible_level(request, sku_code, location_code)
    form = _movement_filters(request, level)
    movements = selectors.movements_of_level(sku_id=level.sku_id, location_id=level.location_id,
                                             filters=form.filters())
    page = Paginator(movements, MOVEMENTS_PAGE).get_page(request.GET.get("page"))
    return render(request, "inventory/stock_level.html", {
        "level": level,
        "form": form,
        "page": page,
        "rows": [(movement, bucket_label(movement.bucket), *movement_source(movement))
                 for movement in page.object_list],
        "others": selectors.levels_of_sku(scope=location_scope(request), sku_id=level.sku_id),
        "filtered": any(request.GET.get(name) for name in form.fields),
        **_level_confidence(level),
    })


def _level_confidence(level: StockLevel) -> dict:
    """The level's own confidence and why (its latest scoring), read only when it has one."""
    latest = selectors.level_confidence_latest(level) if level.confidence is not None else None
    return {
        "level_confidence": latest,
        "level_factors": sorted(latest.factors.values(), key=lambda entry: -entry["weight"]) if latest else [],
        "level_minimum": settings.CONFIDENCE_LEVEL_MIN_COUNTED_LINES,
        "threshold": confidence_threshold(),
    }


MOVEMENT_HEADER = ["occurred_at", "recorded_at", "sku", "location", "bucket", "delta", "reason", "document_type",
                   "document_id", "event_source", "event_id", "actor"]


@_reader(VIEW_LEVELS, VIEW_LEDGER)
@replica_reads()
def stock_level_export(request, sku_code: str, location_code: str):
    level = _visible_level(request, sku_code, location_code)
    movements = selectors.movements_of_level(sku_id=level.sku_id, location_id=level.location_id,
                                             filters=_movement_filters(request, level).filters())
    rows = ([movement.occurred_at.isoformat(), movement.recorded_at.isoformat(), sku_code, location_code,
             movement.bucket, movement.delta, movement.reason, movement.document_type, movement.document_id,
             movement.event.source if movement.event_id else "", movement.event.event_id if movement.event_id else "",
             movement.actor.get_username() if movement.actor_id else ""]
            for movement in movements.iterator(chunk_size=EXPORT_CHUNK))
    return _csv_response(f"ledger-{sku_code}-{location_code}-{timezone.localdate():%Y%m%d}.csv", MOVEMENT_HEADER,
                         rows)


# --- Documents a ledger row links to ------------------------------------------------------------


@_reader(VIEW_LEDGER)
def event_detail(request, event_id: int):
    try:
        event = selectors.event_visible(scope=location_scope(request), event_id=event_id)
    except InventoryEvent.DoesNotExist as exc:
        raise Http404("No such event.") from exc
    return render(request, "inventory/event_detail.html", {"event": event})


@_reader(VIEW_ADJUSTMENTS)
def adjustment_detail(request, adjustment_id: int):
    try:
        adjustment = selectors.adjustments_for(scope=location_scope(request)).get(pk=adjustment_id)
    except Adjustment.DoesNotExist as exc:
        raise Http404("No such adjustment.") from exc
    history = list(adjustment.history.select_related("history_user").order_by("-history_date", "-history_id"))
    return render(request, "inventory/adjustment_detail.html", {
        "adjustment": adjustment, "decisions": list(adjustment.decisions.all()), "history": history})


# --- A location ---------------------------------------------------------------------------------


def _visible_location(request, location_code: str) -> Location:
    try:
        return selectors.location_visible(scope=location_scope(request), code=location_code)
    except Location.DoesNotExist as exc:
        raise Http404("No such location.") from exc


@_reader(VIEW_LEVELS)
def location_detail(request, location_code: str):
    """The location, its confidence and why: each factor of the latest scoring."""
    location = _visible_location(request, location_code)
    scores = selectors.confidence_scores_of(location)
    latest = scores[0] if scores else None
    return render(request, "inventory/location_detail.html", {
        "location": location,
        "latest": latest,
        "factors": sorted(latest.factors.values(), key=lambda entry: -entry["weight"]) if latest else [],
        "scores": scores,
        "threshold": confidence_threshold(),
        "can_rescore": request.user.has_perm(RESCORE),
    })


@require_POST
@login_required
@permission_required(RESCORE, raise_exception=True)
def location_rescore(request, location_code: str):
    """Score every location again now (a score is relative to the estate, so one location
    is never scored alone), and come back to this one."""
    location = _visible_location(request, location_code)
    run = locations_score(trigger=LocationConfidence.Trigger.ON_DEMAND, actor=request.user)
    location.refresh_from_db(fields=["confidence"])
    messages.success(request, f"Confidence scored again for {run.scored} locations: {location.code} is now "
                              f"{location.confidence}.")
    return redirect("inventory:location_detail", location_code=location.code)
