"""GET /api/v1/availability: what can be sold, per SKU and location, for a channel."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.selectors import availability_for
from retailops.access import Scope, location_scope
from retailops.replica import replica_reads

MAX_SKUS = 100
MAX_LOCATIONS = 500
_CODE = {"max_length": 64}


class AvailabilityQuerySerializer(serializers.Serializer):
    """The query string: `sku` and `location` repeat; repeated codes count once."""

    sku = serializers.ListField(child=serializers.CharField(**_CODE), max_length=MAX_SKUS,
                                help_text=f"SKU code; repeat for more (up to {MAX_SKUS}).")
    location = serializers.ListField(child=serializers.CharField(**_CODE), max_length=MAX_LOCATIONS, required=False,
                                     help_text="Location code; repeatable. Default: every location in scope.")
    channel = serializers.CharField(required=False, help_text="Apply this channel's buffer and eligibility.",
                                    **_CODE)

    def validate(self, attrs):
        return {**attrs, "sku": list(dict.fromkeys(attrs["sku"])),
                "location": list(dict.fromkeys(attrs.get("location", [])))}


class AvailabilityRowSerializer(serializers.Serializer):
    sku = serializers.CharField()
    location = serializers.CharField()
    on_hand = serializers.IntegerField()
    committed = serializers.IntegerField()
    unavailable = serializers.IntegerField()
    available = serializers.IntegerField()
    incoming = serializers.IntegerField()


class AvailabilityTotalSerializer(serializers.Serializer):
    sku = serializers.CharField()
    available = serializers.IntegerField()


class AvailabilitySerializer(serializers.Serializer):
    results = AvailabilityRowSerializer(many=True)
    totals = AvailabilityTotalSerializer(many=True)


class AvailabilityView(APIView):
    required_scope = Scope.AVAILABILITY
    staff_permissions = {"GET": ("inventory.view_stocklevel",)}

    @extend_schema(summary="Available stock per SKU and location", parameters=[AvailabilityQuerySerializer],
                   responses={200: AvailabilitySerializer})
    @replica_reads()
    def get(self, request):
        query = AvailabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        availability = availability_for(sku_codes=params["sku"], location_codes=params["location"] or None,
                                        channel_code=params.get("channel"), scope=location_scope(request))
        # The selector's rows are already the contract's shape (AvailabilitySerializer
        # describes it for the schema): on the hottest read, no second pass over them.
        return Response({
            "results": availability.rows,
            "totals": [{"sku": sku, "available": available} for sku, available in availability.totals.items()],
        })
