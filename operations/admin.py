"""Admin of operations: alert incidents (read-only history)."""

from django.contrib import admin

from operations.models import Incident


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("key", "summary", "opened_at", "last_seen_at", "resolved_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    search_fields = ("key", "summary")
    readonly_fields = ("key", "summary", "detail", "opened_at", "last_seen_at", "resolved_at")

    def has_add_permission(self, request):
        return False  # incidents come from the alert check

    def has_change_permission(self, request, obj=None):
        return False
