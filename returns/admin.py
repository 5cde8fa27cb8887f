from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from returns.models import Refund, ReturnAuthorization, ReturnLine


class ReadOnlyAdmin(SimpleHistoryAdmin):
    """Returns change only through the services (the ledger, the refund policy, the history
    of who and why): the admin shows them, with their history, and writes nothing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReturnLineInline(admin.TabularInline):
    model = ReturnLine
    extra = 0
    can_delete = False
    readonly_fields = ["sku", "reason", "authorized", "received", "restocked", "damaged", "written_off",
                       "returned_to_vendor"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReturnAuthorization)
class ReturnAuthorizationAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "source_system", "location", "status", "authorized", "created_at"]
    list_filter = ["status", "authorized"]
    search_fields = ["external_id"]
    inlines = [ReturnLineInline]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["pk", "return_authorization", "amount", "status", "held_for", "requested_by", "decided_by"]
    list_filter = ["status", "held_for"]
