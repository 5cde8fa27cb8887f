"""POST /api/v1/inventory/events: a batch of partner facts, one result per event."""

from datetime import datetime

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.ingest import MAX_BATCH, IncomingEvent, events_ingest
from inventory.models import InventoryEvent
from retailops.access import Scope, location_scope, partner_client
from retailops.idempotency import idempotent

_TEXT_FIELDS = {"event_id": True, "type": True, "sku": True, "location": True, "reason": False, "reference": False}


def _error(message: str, code: str) -> list[ErrorDetail]:
    return [ErrorDetail(message, code=code)]


def _parse_event(item) -> tuple[IncomingEvent | None, dict]:
    """Shape and types only; business rules (unknown codes, quantity by type) are the
    service's, and make an event `rejected` rather than the request a 400."""
    if not isinstance(item, dict):
        return None, {"non_field_errors": _error("Each event must be a JSON object.", "invalid")}
    errors: dict[str, list[ErrorDetail]] = {}
    values: dict = {}
    for name, required in _TEXT_FIELDS.items():
        value = item.get(name)
        if value is None:
            if required:
                errors[name] = _error("This field is required.", "required")
            else:
                values[name] = ""
        elif not isinstance(value, str) or (required and not value.strip()):
            errors[name] = _error("Must be a non-empty string.", "invalid")
        elif len(value) > 255:
            errors[name] = _error("At most 255 characters.", "max_length")
        else:
            values[name] = value
    quantity = item.get("quantity")
    if quantity is None:
        errors["quantity"] = _error("This field is required.", "required")
    elif isinstance(quantity, bool) or not isinstance(quantity, int):
        errors["quantity"] = _error("Must be an integer.", "invalid")
    elif abs(quantity) > 1_000_000_000:
        errors["quantity"] = _error("Out of range.", "max_value")
    else:
        values["quantity"] = quantity
    occurred_at = item.get("occurred_at")
    if occurred_at is None:
        errors["occurred_at"] = _error("This field is required.", "required")
    else:
        try:
            parsed = datetime.fromisoformat(occurred_at) if isinstance(occurred_at, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            errors["occurred_at"] = _error("Must be an ISO 8601 timestamp.", "invalid_datetime")
        elif parsed.tzinfo is None:
            errors["occurred_at"] = _error("The timestamp needs a UTC offset.", "missing_offset")
        else:
            values["occurred_at"] = parsed
    if errors:
        return None, errors
    return IncomingEvent(**values), {}


class EventListField(serializers.Field):
    """A hand-written list parser: DRF's nested serializers cost ~10× more per event."""

    default_error_messages = {
        "not_a_list": "events must be a list.",
        "empty": "events must hold at least one event.",
        "batch_too_large": f"A batch holds at most {MAX_BATCH} events.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        if len(data) > MAX_BATCH:
            self.fail("batch_too_large")
        parsed, errors = [], []
        for item in data:
            event, item_errors = _parse_event(item)
            parsed.append(event)
            errors.append(item_errors)
        if any(errors):
            raise serializers.ValidationError(errors)
        return parsed


class EventInSerializer(serializers.Serializer):
    """Documentation of one event (the parsing itself is EventListField's)."""

    event_id = serializers.CharField(max_length=255)
    type = serializers.ChoiceField(choices=InventoryEvent.Type.choices)
    sku = serializers.CharField(max_length=255)
    location = serializers.CharField(max_length=255)
    quantity = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=255, required=False)
    reference = serializers.CharField(max_length=255, required=False)


class EventBatchSerializer(serializers.Serializer):
    events = EventListField()


class EventBatchSchemaSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, min_length=1, max_length=MAX_BATCH)


class EventErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class EventResultSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["applied", "duplicate", "conflict", "stale", "rejected",
                                              "pending_approval"])
    error = EventErrorSerializer(required=False)


class EventSummarySerializer(serializers.Serializer):
    applied = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    stale = serializers.IntegerField()
    conflict = serializers.IntegerField()
    pending_approval = serializers.IntegerField()


class EventBatchResultSerializer(serializers.Serializer):
    results = EventResultSerializer(many=True)
    summary = EventSummarySerializer()


class InventoryEventsView(APIView):
    required_scope = Scope.EVENTS
    staff_permissions: dict = {}  # events come from systems; staff adjust through adjustments

    @extend_schema(summary="Send a batch of inventory events", request=EventBatchSchemaSerializer,
                   responses={200: EventBatchResultSerializer})
    @idempotent
    def post(self, request):
        serializer = EventBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client = partner_client(request)
        outcome = events_ingest(
            source=client.external_system.code, events=serializer.validated_data["events"],
            actor=request.user, scope=location_scope(request),
        )
        results = []
        for result in outcome.results:
            row = {"event_id": result.event_id, "status": result.status}
            if result.error_code:
                row["error"] = {"code": result.error_code, "detail": result.error_detail}
            results.append(row)
        return Response({"results": results, "summary": outcome.summary})
