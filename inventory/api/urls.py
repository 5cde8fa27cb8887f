from django.urls import path, register_converter

from inventory.api import views
from inventory.api.availability import AvailabilityView
from inventory.api.events import InventoryEventsView
from inventory.models import CODE_PATTERN


class CodeConverter:
    regex = CODE_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CodeConverter, "code")

urlpatterns = [
    path("skus", views.SkuListView.as_view(), name="sku-list"),
    path("skus/<code:code>", views.SkuDetailView.as_view(), name="sku-detail"),
    path("locations", views.LocationListView.as_view(), name="location-list"),
    path("locations/<code:code>", views.LocationDetailView.as_view(), name="location-detail"),
    path("channels", views.ChannelListView.as_view(), name="channel-list"),
    path("channels/<code:code>", views.ChannelDetailView.as_view(), name="channel-detail"),
    path("inventory/events", InventoryEventsView.as_view(), name="inventory-events"),
    path("availability", AvailabilityView.as_view(), name="availability"),
]
