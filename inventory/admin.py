from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from inventory.models import ApprovalPolicy, Channel, Location, Sku


@admin.register(Sku)
class SkuAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "unit_cost", "price", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["code", "name"]


@admin.register(Location)
class LocationAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "kind", "region", "ship_from_store", "pickup", "pickup_ack_minutes", "confidence",
                    "active"]
    list_filter = ["kind", "region", "ship_from_store", "pickup", "active"]
    search_fields = ["code", "name"]
    readonly_fields = ["confidence"]


@admin.register(Channel)
class ChannelAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "kind", "priority", "safety_buffer", "active"]
    list_filter = ["kind", "active"]
    search_fields = ["code", "name"]


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(SimpleHistoryAdmin):
    """Ops admins set the adjustment approval thresholds here; the history keeps every change."""

    list_display = ["threshold", "second_threshold", "active", "note", "updated_at"]
    list_filter = ["active"]
