"""Staff screens for orders: the list with its filters, and one order with its lines,
allocations, the sourcing explanation, its history and the fulfilment actions.

Thin, like the API views: reads come from `orders.selectors` scoped to the caller (an
order outside a store user's locations is a 404), writes go through `orders.services`,
and a domain error becomes a message on the order's page.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator, MinValueValidator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from inventory import selectors as inventory_selectors
from inventory.models import Location
from orders import selectors, services, sourcing
from orders.callers import Caller
from orders.models import Order
from orders.states import HOLDING_STATUSES, REALLOCATABLE_STATUSES, Fulfillment, OrderStatus
from retailops.screens import act_and_report, form_problems

PAGE_SIZE = 50
VIEW_ORDER = "orders.view_order"
CHANGE_ORDER = "orders.change_order"


# --- The list -------------------------------------------------------------------------------


# A filter day is turned into its start, and the next day's, in the current time zone:
# the calendar's first and last days have no such neighbours.
_FILTER_DAYS = [MinValueValidator(date(1, 1, 2)), MaxValueValidator(date(9999, 12, 30))]


class OrderFilterForm(forms.Form):
    """The list's filters. They live in the query string, so a filtered list is a link."""

    q = forms.CharField(label="External id", required=False, max_length=255)
    status = forms.ChoiceField(choices=[("", "Any status"), *OrderStatus.choices], required=False)
    channel = forms.ModelChoiceField(queryset=None, to_field_name="code", required=False, empty_label="Any channel")
    fulfillment = forms.ChoiceField(label="Fulfilment", choices=[("", "Ship or pickup"), *Fulfillment.choices],
                                    required=False)
    location = forms.ModelChoiceField(queryset=None, to_field_name="code", required=False,
                                      empty_label="Any location")
    created_from = forms.DateField(label="Created from", required=False, validators=_FILTER_DAYS,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(label="Created to", required=False, validators=_FILTER_DAYS,
                                 widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, *, scope) -> None:
        super().__init__(data)
        self.fields["channel"].queryset = inventory_selectors.channels_list().order_by("code")
        # A store user filters by their own stores only.
        self.fields["location"].queryset = inventory_selectors.locations_for(scope=scope).order_by("code")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end date is before the start date.")
        return cleaned

    def selector_filters(self) -> dict:
        """The valid filters as `selectors.orders_matching` arguments (an invalid one is
        shown with its error and ignored). Dates are whole days in the current time zone."""
        self.is_valid()
        data = self.cleaned_data  # the valid fields only
        channel, location = data.get("channel"), data.get("location")
        start, end = data.get("created_from"), data.get("created_to")
        return {
            "channel_id": channel.pk if channel else None,
            "fulfillment": data.get("fulfillment", ""),
            "location_id": location.pk if location else None,
            "external_id": data.get("q", "").strip(),
            "created_from": _start_of(start) if start else None,
            "created_before": _start_of(end + timedelta(days=1)) if end else None,
        }


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@require_GET
@login_required
@permission_required(VIEW_ORDER, raise_exception=True)
def order_list(request):
    caller = Caller.from_request(request)
    form = OrderFilterForm(request.GET, scope=caller.scope)
    matching = selectors.orders_matching(selectors.orders_for(caller=caller), **form.selector_filters())
    status = form.cleaned_data.get("status", "")
    # The counts ignore the status filter, so each is a way into that status.
    counts = selectors.order_status_counts(matching)
    listed = selectors.orders_matching(matching, status=status)
    page = Paginator(selectors.orders_for_list(listed), PAGE_SIZE).get_page(request.GET.get("page"))
    for order in page.object_list:
        order.sourced_from = sorted({allocation.location.code for allocation in order.allocations.all()})
    return render(request, "orders/list.html", {
        "form": form,
        "page": page,
        "status": status,
        "status_counts": [{"status": value, "label": label, "count": counts[value]}
                          for value, label in OrderStatus.choices],
        "total": sum(counts.values()),
    })


# --- One order -----------------------------------------------------------------------------


RULE_IN_WORDS = {
    sourcing.RULE_WHOLE_ORDER: "One location could serve every line of the order, so the whole order is "
                               "allocated there (no split).",
    sourcing.RULE_WHOLE_LINE: "This line was allocated in full at the best location that had enough (no split).",
    sourcing.RULE_SPLIT: "No one location had enough for this line, so it was split over the fewest locations, "
                         "largest available first.",
    sourcing.RULE_REQUESTED_LOCATION: "The caller asked for this location, so only it was considered.",
    sourcing.RULE_RESERVATION: "A checkout hold the customer already had serves this line.",
}

# The rules `decided_by` names, in the screen's words.
DECIDED_BY_IN_WORDS = {
    "fulfilment_sla": "fulfilment SLA (handling plus transit to the ship-to region)",
    "location_priority": "location priority (distribution centres before stores)",
    "region": "the order's region",
    "most_available": "the most available",
    "location_code": "location code (all else equal)",
    sourcing.RULE_CAPACITY: "daily capacity",
    sourcing.RULE_CHANNEL_PRIORITY: "channel priority (capacity kept for higher-priority channels)",
}


KIND_LABELS = dict(Location.Kind.choices)


@dataclass(frozen=True)
class Explanation:
    """A line's stored sourcing explanation, in the words the screen uses."""

    rule: str
    rule_in_words: str
    ranking: str
    region: str
    requested: int | None
    candidates: list[dict]
    candidates_not_shown: int
    reservation: dict | None
    holds_not_used: list[dict]
    attempts: int
    decided_by: list[str]
    reallocations: list[dict]

    @classmethod
    def of(cls, stored: dict, *, order: Order, line_count: int) -> "Explanation | None":
        if not stored:
            return None
        rule = stored.get("rule", "")
        in_words = RULE_IN_WORDS.get(rule, rule.replace("_", " ").capitalize())
        if order.fulfillment == Fulfillment.PICKUP and rule != sourcing.RULE_RESERVATION:
            in_words = "A pickup order is served only from its pickup location. " + in_words
        elif rule == sourcing.RULE_WHOLE_LINE and line_count > 1:
            in_words = "No one location could serve every line of the order. " + in_words
        return cls(
            rule=rule,
            rule_in_words=in_words,
            ranking=stored.get("ranking", ""),
            region=stored.get("region") or "",
            requested=stored.get("requested"),
            candidates=[{**candidate, "kind_label": KIND_LABELS.get(candidate.get("kind"), candidate.get("kind"))}
                        for candidate in stored.get("candidates", [])],
            candidates_not_shown=stored.get("candidates_not_shown", 0),
            reservation=stored.get("reservation"),
            holds_not_used=stored.get("holds_not_used") or [],
            attempts=stored.get("attempt", 1),
            decided_by=[DECIDED_BY_IN_WORDS[rule] for rule in stored.get("decided_by", [])
                        if rule in DECIDED_BY_IN_WORDS],
            reallocations=stored.get("reallocations", []),
        )


def _visible_order(request, order_id: int) -> tuple[Caller, Order]:
    caller = Caller.from_request(request)
    return caller, get_object_or_404(selectors.orders_for(caller=caller), pk=order_id)


def _actions(order: Order, user) -> dict[str, bool]:
    """Which actions the screen offers; the services re-check every one under the lock."""
    if not user.has_perm(CHANGE_ORDER):
        return {}
    pickup = order.fulfillment == Fulfillment.PICKUP
    allocated = order.status == OrderStatus.ALLOCATED
    offered = {
        "acknowledge": pickup and allocated and order.pickup_acknowledged_at is None,
        "pickup": pickup and allocated,
        "ship": not pickup and order.status in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED),
        "cancel": allocated,
        # Pickup orders are served at their pickup location only: nothing to source elsewhere.
        "reallocate": not pickup and order.status in REALLOCATABLE_STATUSES,
    }
    return {action: True for action, allowed in offered.items() if allowed}


def _history_rows(order: Order) -> list[dict]:
    """The merged history in the screen's words: what changed, from what to what."""
    line_ids = {line.pk: line.line_id for line in order.lines.all()}
    allocated = {allocation.pk: (line.sku.code, allocation.location.code)
                 for line in order.lines.all() for allocation in line.allocations.all()}
    locations = {allocation.location_id: allocation.location.code
                 for line in order.lines.all() for allocation in line.allocations.all()}

    def shown(field: str, value) -> str:
        if value is None or value == "":
            return "—"
        if field == "line":
            return f"line {line_ids.get(value, value)}"
        if field == "order":
            return f"order {value}"
        if field == "location":
            return locations.get(value, f"location {value}")
        if isinstance(value, datetime):
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        return str(value)

    rows = []
    for entry in selectors.order_history(order=order):
        if entry.subject == "order":
            subject = "Order"
        else:
            subject = f"Allocation {entry.subject_id}"
            if entry.subject_id in allocated:
                sku, location = allocated[entry.subject_id]
                subject += f" ({sku} at {location})"
        rows.append({
            "when": entry.when, "who": entry.who, "subject": subject, "action": entry.action,
            "reason": entry.reason,
            "changes": [{"field": change.field.replace("_", " "), "old": shown(change.field, change.old),
                         "new": shown(change.field, change.new)} for change in entry.changes],
        })
    return rows


@require_GET
@login_required
@permission_required(VIEW_ORDER, raise_exception=True)
def order_detail(request, order_id: int):
    caller = Caller.from_request(request)
    order = get_object_or_404(selectors.orders_with_lines(selectors.orders_for(caller=caller)), pk=order_id)
    order_lines = list(order.lines.all())
    lines = [{"line": line, "allocations": list(line.allocations.all()),
              "explanation": Explanation.of(line.sourcing, order=order, line_count=len(order_lines))}
             for line in order_lines]
    ship_from = sorted({allocation.location.code for entry in lines for allocation in entry["allocations"]
                        if allocation.status in HOLDING_STATUSES and caller.scope.allows(allocation.location_id)})
    now = timezone.now()
    return render(request, "orders/detail.html", {
        "order": order,
        "lines": lines,
        "history": _history_rows(order),
        "actions": _actions(order, request.user),
        "ship_from": ship_from,
        "reallocate_from": ship_from,
        "pickup_overdue": bool(order.pickup_ack_due_at and order.pickup_acknowledged_at is None
                               and order.status == OrderStatus.ALLOCATED and order.pickup_ack_due_at <= now),
    })


# --- Actions --------------------------------------------------------------------------------


class NoteForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, strip=True)


class CancelForm(forms.Form):
    note = forms.CharField(max_length=200, required=True, strip=True,
                           error_messages={"required": "Say why the order is cancelled."})


class ReallocateForm(forms.Form):
    from_location = forms.CharField(max_length=64)
    reason = forms.CharField(max_length=200, strip=True,
                             error_messages={"required": "Say why the order is sourced again."})


class ShipForm(forms.Form):
    location = forms.CharField(max_length=64, required=False)


def _act(request, order_id: int, *, form_class, verb: str, done: str, act):
    """Validate the form, call the service, and say how it went on the order's page."""
    caller, order = _visible_order(request, order_id)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, f"Could not {verb} the order: {form_problems(form)}")
        return redirect("orders:detail", order_id=order.pk)
    act_and_report(request, lambda: act(order=order, caller=caller, **form.cleaned_data), done=done,
                   failed=f"Could not {verb} the order: ")
    return redirect("orders:detail", order_id=order.pk)


def _decorated(view):
    return require_POST(login_required(permission_required(CHANGE_ORDER, raise_exception=True)(view)))


@_decorated
def order_acknowledge_pickup(request, order_id: int):
    return _act(request, order_id, form_class=NoteForm, verb="acknowledge", done="Pickup acknowledged.",
                act=lambda order, caller, note: services.order_acknowledge_pickup(order=order, caller=caller,
                                                                                   note=note))


@_decorated
def order_pickup(request, order_id: int):
    return _act(request, order_id, form_class=NoteForm, verb="record the pickup of",
                done="Pickup recorded: the customer has the goods.",
                act=lambda order, caller, note: services.order_pickup(order=order, caller=caller, note=note))


@_decorated
def order_ship(request, order_id: int):
    return _act(request, order_id, form_class=ShipForm, verb="ship", done="Shipped.",
                act=lambda order, caller, location: services.order_ship(order=order, caller=caller,
                                                                        location_code=location or None))


@_decorated
def order_cancel(request, order_id: int):
    return _act(request, order_id, form_class=CancelForm, verb="cancel",
                done="Order cancelled; its units are available again.",
                act=lambda order, caller, note: services.order_cancel(order=order, caller=caller, reason=note))


@_decorated
def order_reallocate(request, order_id: int):
    return _act(request, order_id, form_class=ReallocateForm, verb="re-source",
                done="Re-sourced: the units are now promised from the other locations shown.",
                act=lambda order, caller, from_location, reason: services.order_reallocate(
                    order=order, caller=caller, from_location_code=from_location, reason=reason))
