from django.contrib import admin

from access.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by `manage.py api_token` (the only time the key is shown); here they are
    listed and revoked (deleted)."""

    list_display = ["prefix", "user", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "prefix"]
    readonly_fields = ["user", "prefix", "digest", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False
