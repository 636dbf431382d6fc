"""Admin for deliveries (dead letters with a retry action) and API keys (shown once).

Imported by ``notifications/admin.py`` so the admin's autodiscovery registers it.
"""

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.text import Truncator

from notifications.api.services import api_key_issue, api_key_revoke
from notifications.delivery.services import delivery_retry
from notifications.models import ApiKey, Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "channel",
        "status",
        "attempts",
        "recipient",
        "kind",
        "next_attempt_at",
        "sent_at",
        "short_error",
    )
    list_filter = ("status", "channel", "notification__priority")
    search_fields = ("notification__recipient__username", "notification__recipient__email")
    list_select_related = ("notification__recipient",)
    raw_id_fields = ("notification",)
    # Read-only: state changes go through the services (the retry action), never a form.
    readonly_fields = (
        "notification",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "provider_message_id",
        "sent_at",
        "created_at",
        "updated_at",
    )
    date_hierarchy = "created_at"
    ordering = ("-id",)
    actions = ("retry",)

    def has_add_permission(self, request):
        return False  # rows come from notify()

    @admin.display(ordering="notification__recipient__username")
    def recipient(self, delivery):
        return delivery.notification.recipient

    @admin.display(ordering="notification__kind")
    def kind(self, delivery):
        return delivery.notification.kind

    @admin.display(description="Last error")
    def short_error(self, delivery):
        if not delivery.last_error:
            return ""
        return format_html(
            '<span title="{}">{}</span>',
            delivery.last_error,
            Truncator(delivery.last_error).chars(60),
        )

    @admin.action(description="Retry the selected deliveries (fresh attempts)")
    def retry(self, request, queryset):
        retried = sum(
            delivery_retry(delivery=delivery)
            for delivery in queryset.select_related("notification")
        )
        skipped = queryset.count() - retried
        self.message_user(
            request,
            f"{retried} deliveries queued for another try"
            + (f"; {skipped} sent or pending were left alone." if skipped else "."),
            messages.SUCCESS,
        )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    actions = ("revoke",)

    shown_after_creation = ("prefix", "created_at", "last_used_at", "revoked_at")
    scopes = ("kinds", "allow_urgent", "recipient_groups")
    filter_horizontal = ("recipient_groups",)

    def get_fields(self, request, obj=None):
        fields = ("name", *self.scopes)
        return fields if obj is None else (*fields, *self.shown_after_creation)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.shown_after_creation

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "kinds", "allow_urgent"])
            return
        raw_key = api_key_issue(api_key=obj)
        self.message_user(
            request,
            format_html(
                "API key for “{}”: <code>{}</code> — copy it now, it is not shown again.",
                obj.name,
                raw_key,
            ),
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        revoked = sum(api_key_revoke(api_key=api_key) for api_key in queryset)
        self.message_user(request, f"{revoked} API keys revoked.", messages.SUCCESS)
