from decimal import Decimal

from rest_framework import serializers

from inventory.models import Channel, Location, Sku
from retailops.fields import column_bounds

_MONEY = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0")}


class SkuInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    unit_cost = serializers.DecimalField(**_MONEY)
    price = serializers.DecimalField(**_MONEY)
    active = serializers.BooleanField(default=True)


class SkuOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sku
        fields = ["code", "name", "unit_cost", "price", "active", "updated_at"]


class LocationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Location.Kind.choices)
    region = serializers.CharField(max_length=64, allow_blank=True, default="")
    ship_from_store = serializers.BooleanField(default=False)
    pickup = serializers.BooleanField(default=False)
    capacity = serializers.IntegerField(**column_bounds(Location._meta.get_field("capacity")), required=False,
                                        allow_null=True, default=None)
    active = serializers.BooleanField(default=True)


class LocationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["code", "name", "kind", "region", "ship_from_store", "pickup", "capacity", "confidence",
                  "active", "updated_at"]


class ChannelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Channel.Kind.choices)
    priority = serializers.IntegerField(default=0, min_value=-1000, max_value=1000)
    safety_buffer = serializers.IntegerField(default=0, min_value=0, max_value=1_000_000)
    active = serializers.BooleanField(default=True)


class ChannelOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["code", "name", "kind", "priority", "safety_buffer", "active", "updated_at"]
