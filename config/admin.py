from django.contrib import admin

from config.models import DeadTask


@admin.register(DeadTask)
class DeadTaskAdmin(admin.ModelAdmin):
    """Task messages given up on: read them, fix the cause, delete them."""

    list_display = ("name", "task_id", "queue", "starts", "updated_at")
    list_filter = ("name", "queue")
    search_fields = ("task_id", "name", "args")
    readonly_fields = ("task_id", "name", "args", "kwargs", "queue", "starts", "created_at",
                       "updated_at")

    def has_add_permission(self, request):
        return False
