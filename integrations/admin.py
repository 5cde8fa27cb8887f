from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from integrations.models import ApiClient, ExternalSystem


@admin.register(ExternalSystem)
class ExternalSystemAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "kind", "enabled", "base_url"]
    list_filter = ["kind", "enabled"]
    search_fields = ["code", "name"]


@admin.register(ApiClient)
class ApiClientAdmin(SimpleHistoryAdmin):
    """Tokens are created with `create_api_client` (shown once); here they can be revoked."""

    list_display = ["name", "kind", "external_system", "token_prefix", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["kind", "external_system"]
    readonly_fields = ["kind", "external_system", "user", "token_prefix", "created_at", "last_used_at"]
    exclude = ["token_hash"]
    filter_horizontal = ["locations"]

    def has_add_permission(self, request):
        return False
