"""GET /api/v1/availability: what can be sold, per SKU and location, for a channel."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.selectors import availability_for
from retailops.access import Scope, location_scope

MAX_SKUS = 100


MAX_LOCATIONS = 500
CODE_LENGTH = 64


def _invalid(name: str, message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError({name: [ErrorDetail(message, code=code)]})


def _code(name: str, value: str) -> str:
    if not value.strip():
        raise _invalid(name, "This field may not be blank.", "blank")
    if len(value) > CODE_LENGTH:
        raise _invalid(name, f"Ensure this field has no more than {CODE_LENGTH} characters.", "max_length")
    return value.strip()


def _codes(query, name: str, *, required: bool, most: int) -> list[str]:
    """The distinct values of a repeated query parameter, checked the way DRF's ListField
    of CharFields would (the same messages and codes), at a fraction of its cost: this
    is the hottest read partners make."""
    values = query.getlist(name)
    if not values and required:
        raise _invalid(name, "This field is required.", "required")
    if len(values) > most:
        raise _invalid(name, f"Ensure this field has no more than {most} elements.", "max_length")
    return list(dict.fromkeys(_code(name, value) for value in values))


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
        query = request.query_params
        channel = query.get("channel")
        availability = availability_for(
            sku_codes=_codes(query, "sku", required=True, most=MAX_SKUS),
            location_codes=_codes(query, "location", required=False, most=MAX_LOCATIONS) or None,
            channel_code=_code("channel", channel) if channel is not None else None,
            scope=location_scope(request),
        )
        # Plain dicts: this endpoint is hot, and the rows are already the contract's shape.
        return Response({
            "results": [row.__dict__ for row in availability.rows],
            "totals": [{"sku": sku, "available": available} for sku, available in availability.totals.items()],
        })
