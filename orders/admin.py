from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from orders.models import Allocation, Order, OrderLine


class ReadOnlyAdmin(SimpleHistoryAdmin):
    """Orders and allocations change only through the services (the ledger, sourcing, the
    history of who and why): the admin shows them, with their history, and writes nothing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = ["line_id", "sku", "quantity", "sourcing"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["id", "external_id", "channel", "fulfillment", "pickup_location", "status", "created_at"]
    list_filter = ["status", "fulfillment", "channel"]
    search_fields = ["external_id"]
    inlines = [OrderLineInline]
    readonly_fields = [field.name for field in Order._meta.fields]


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ["id", "origin", "sku", "location", "channel", "quantity", "status", "expires_at", "order"]
    list_filter = ["status", "origin"]
    readonly_fields = [field.name for field in Allocation._meta.fields]
