from inventory.models import Channel, Location, Sku
from retailops.filters import FilterSet


class SkuFilter(FilterSet):
    class Meta:
        model = Sku
        fields = ["active"]


class LocationFilter(FilterSet):
    class Meta:
        model = Location
        fields = ["kind", "region", "ship_from_store", "pickup", "active"]


class ChannelFilter(FilterSet):
    class Meta:
        model = Channel
        fields = ["kind", "active"]
