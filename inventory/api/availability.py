"""GET /api/v1/availability: what can be sold, per SKU and location, for a channel."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.selectors import availability_for
from retailops.access import Scope, location_scope

MAX_SKUS = 100


class AvailabilityQuerySerializer(serializers.Serializer):
    sku = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=MAX_SKUS)
    location = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=500)
    channel = serializers.CharField(max_length=64, required=False)


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

    @extend_schema(
        summary="Available stock per SKU and location",
        parameters=[
            OpenApiParameter("sku", OpenApiTypes.STR, many=True, required=True, explode=True,
                             description=f"SKU code; repeat for more (up to {MAX_SKUS})."),
            OpenApiParameter("location", OpenApiTypes.STR, many=True, explode=True,
                             description="Location code; repeatable. Default: every location in scope."),
            OpenApiParameter("channel", OpenApiTypes.STR, description="Apply this channel's buffer and eligibility."),
        ],
        responses={200: AvailabilitySerializer},
    )
    def get(self, request):
        query = AvailabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        sku_codes = list(dict.fromkeys(params["sku"]))
        availability = availability_for(
            sku_codes=sku_codes,
            location_codes=list(dict.fromkeys(params.get("location", []))) or None,
            channel_code=params.get("channel"),
            scope=location_scope(request),
        )
        # Plain dicts: this endpoint is hot, and the rows are already the contract's shape.
        return Response({
            "results": [row.__dict__ for row in availability.rows],
            "totals": [{"sku": sku, "available": available} for sku, available in availability.totals.items()],
        })
