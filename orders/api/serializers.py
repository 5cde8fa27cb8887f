"""Request and response shapes of the reservations and orders endpoints (API.md)."""

from rest_framework import serializers

from orders.services import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS
from orders.states import AllocationStatus, Fulfillment, OrderStatus

_CODE = {"max_length": 64}
MAX_LINES = 500
MAX_ID = 2**63 - 1  # ids are BigAutoField


class ReservationInSerializer(serializers.Serializer):
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    channel = serializers.CharField(**_CODE)
    location = serializers.CharField(required=False, **_CODE)
    ttl_seconds = serializers.IntegerField(min_value=1, max_value=MAX_TTL_SECONDS, default=DEFAULT_TTL_SECONDS)
    reference = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    fulfillment = serializers.ChoiceField(choices=Fulfillment.choices, default=Fulfillment.SHIP,
                                          help_text="Addition: `pickup` holds at `location` for collection there.")
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                   help_text="Addition: the ship-to region, preferred when sourcing.")


class ReservationSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    sku = serializers.CharField(source="sku.code")
    location = serializers.CharField(source="location.code")
    channel = serializers.CharField(source="channel.code")
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AllocationStatus.choices)
    expires_at = serializers.DateTimeField()
    reference = serializers.CharField()
    order = serializers.IntegerField(source="order_id", allow_null=True)


class OrderLineInSerializer(serializers.Serializer):
    line_id = serializers.CharField(max_length=64)
    sku = serializers.CharField(**_CODE)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    # An id beyond the id column's range is a 400, not a database overflow (500).
    reservation = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1,
                                           max_value=MAX_ID)


class OrderInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    channel = serializers.CharField(**_CODE)
    fulfillment = serializers.ChoiceField(choices=Fulfillment.choices)
    pickup_location = serializers.CharField(required=False, allow_null=True, default=None, **_CODE)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                   help_text="Addition: the ship-to region, preferred when sourcing.")
    lines = OrderLineInSerializer(many=True, min_length=1, max_length=MAX_LINES)


class ShipInSerializer(serializers.Serializer):
    location = serializers.CharField(required=False, **_CODE, help_text="Ship only what is allocated here.")


class ReallocateInSerializer(serializers.Serializer):
    from_location = serializers.CharField(**_CODE, help_text="The location whose open allocations are given up.")
    reason = serializers.CharField(max_length=200, help_text="Why: recorded with the order and its allocations.")


class CancelInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="cancelled")


class NoteInSerializer(serializers.Serializer):
    """The body may be empty or `{}`; a note, when given, is recorded with the change."""

    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AllocationSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    location = serializers.CharField(source="location.code")
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AllocationStatus.choices)
    reservation = serializers.SerializerMethodField(help_text="The hold this allocation came from, if any.")

    def get_reservation(self, allocation) -> int | None:
        return allocation.pk if allocation.origin == "hold" else None


class OrderLineSerializer(serializers.Serializer):
    line_id = serializers.CharField()
    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()
    allocations = AllocationSerializer(many=True)


class OrderLineDetailSerializer(OrderLineSerializer):
    sourcing = serializers.JSONField(help_text="Why the line went where it did: the candidates considered with "
                                                "their available figures, and the rule that decided.")


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    external_id = serializers.CharField()
    channel = serializers.CharField(source="channel.code")
    fulfillment = serializers.ChoiceField(choices=Fulfillment.choices)
    pickup_location = serializers.CharField(source="pickup_location.code", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    pickup_ack_due_at = serializers.DateTimeField(allow_null=True)
    pickup_acknowledged_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    lines = OrderLineSerializer(many=True)


class OrderDetailSerializer(OrderSerializer):
    lines = OrderLineDetailSerializer(many=True)
