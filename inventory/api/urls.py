from django.urls import path, register_converter

from inventory.api import adjustments, transfers, views
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
    path("adjustments", adjustments.AdjustmentListCreateView.as_view(), name="adjustment-list"),
    path("adjustments/<int:adjustment_id>", adjustments.AdjustmentDetailView.as_view(), name="adjustment-detail"),
    path("adjustments/<int:adjustment_id>/approve", adjustments.AdjustmentApproveView.as_view(),
         name="adjustment-approve"),
    path("adjustments/<int:adjustment_id>/reject", adjustments.AdjustmentRejectView.as_view(),
         name="adjustment-reject"),
    path("transfers", transfers.TransferListCreateView.as_view(), name="transfer-list"),
    path("transfers/<int:transfer_id>", transfers.TransferDetailView.as_view(), name="transfer-detail"),
    path("transfers/<int:transfer_id>/approve", transfers.TransferApproveView.as_view(), name="transfer-approve"),
    path("transfers/<int:transfer_id>/ship", transfers.TransferShipView.as_view(), name="transfer-ship"),
    path("transfers/<int:transfer_id>/receive", transfers.TransferReceiveView.as_view(), name="transfer-receive"),
    path("transfers/<int:transfer_id>/close", transfers.TransferCloseView.as_view(), name="transfer-close"),
    path("transfers/<int:transfer_id>/cancel", transfers.TransferCancelView.as_view(), name="transfer-cancel"),
]
