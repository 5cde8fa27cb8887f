import django_filters

from inventory.models import Channel, Location, Sku


class SkuFilter(django_filters.FilterSet):
    class Meta:
        model = Sku
        fields = ["active"]


class LocationFilter(django_filters.FilterSet):
    class Meta:
        model = Location
        fields = ["kind", "region", "ship_from_store", "pickup", "active"]


class ChannelFilter(django_filters.FilterSet):
    class Meta:
        model = Channel
        fields = ["kind", "active"]
