"""POST /api/v1/inventory/events: a batch of partner facts, one result per event."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.ingest import MAX_BATCH, IncomingEvent, events_ingest
from inventory.models import InventoryEvent
from retailops.access import Scope, location_scope, partner_client
from retailops.fields import OffsetDateTimeField, StrictIntegerField, TextField
from retailops.idempotency import idempotent


class EventListSerializer(serializers.ListSerializer):
    """A batch: refused whole, before any event is read, when it has more than MAX_BATCH."""

    default_error_messages = {"batch_too_large": f"A batch holds at most {MAX_BATCH} events."}

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > MAX_BATCH:
            raise serializers.ValidationError(self.error_messages["batch_too_large"], code="batch_too_large")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "enum": InventoryEvent.Type.values})
class EventTypeField(TextField):
    """Any text is taken in: an unknown type makes the event `rejected`, not the batch a 400."""


class EventInSerializer(serializers.Serializer):
    """One event as the partner sends it: shape and types only. Business rules (unknown
    codes, quantity by type) are the service's, and make an event `rejected` rather than
    the request a 400."""

    event_id = TextField()
    type = EventTypeField()
    sku = TextField()
    location = TextField()
    quantity = StrictIntegerField()
    occurred_at = OffsetDateTimeField(help_text="ISO 8601 with its UTC offset.")
    reason = TextField(required=False, allow_blank=True, default="")
    reference = TextField(required=False)

    class Meta:
        list_serializer_class = EventListSerializer

    def to_internal_value(self, data) -> IncomingEvent:
        return IncomingEvent(**super().to_internal_value(data))


class EventBatchSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, allow_empty=False, min_length=1, max_length=MAX_BATCH)


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

    @extend_schema(summary="Send a batch of inventory events", request=EventBatchSerializer,
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
