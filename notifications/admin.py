"""Admin for notifications: every change goes through notifications.services."""

from datetime import timedelta

from django.contrib import admin, messages
from django.utils import timezone

from notifications import selectors, services
from notifications.kinds import KINDS
from notifications.models import (
    Channel,
    ContactPoint,
    MobileDevice,
    Delivery,
    Notification,
    Preference,
    PushSubscription,
    QuietHours,
    Subscription,
)


class KindFilter(admin.SimpleListFilter):
    """Kinds from the catalogue: no DISTINCT over a table of millions to build the list."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(kind.key, kind.label) for kind in KINDS.values()]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "recipient", "kind", "priority", "title", "is_read", "silenced",
                    "created_at")
    list_filter = (KindFilter, "priority", "is_read", "silenced", "in_app", "created_at")
    search_fields = ("recipient__username", "recipient__email", "=dedupe_key")
    list_select_related = ("recipient",)
    raw_id_fields = ("recipient",)
    # Counting every row of a big table for the paginator is slow; the filters say enough.
    show_full_result_count = False
    inlines = (DeliveryInline,)
    actions = ("mark_read", "mark_unread")
    readonly_fields = (
        "recipient", "kind", "priority", "title", "body", "url", "content_type", "object_id",
        "data", "dedupe_key", "in_app", "silenced", "is_read", "read_at", "seen_at",
        "clicked_at", "dismissed_at", "created_at",
    )

    # Above the list: sent / seen / clicked per kind and channel over the last days (the
    # center records in-app seen and clicked, the signed links email and web push clicks).
    change_list_template = "admin/notifications/notification/change_list.html"
    ENGAGEMENT_DAYS = 30

    def changelist_view(self, request, extra_context=None):
        since = timezone.now() - timedelta(days=self.ENGAGEMENT_DAYS)
        labels = {key: kind.label for key, kind in KINDS.items()}
        channels = dict(Channel.choices)
        ledger = [
            {**row, "label": labels.get(row["kind"], row["kind"]),
             "channel_label": channels[row["channel"]]}
            for row in selectors.delivery_ledger(since=since)
        ]
        extra_context = {
            **(extra_context or {}),
            "ledger": ledger,
            "engagement_days": self.ENGAGEMENT_DAYS,
        }
        return super().changelist_view(request, extra_context=extra_context)

    def has_add_permission(self, request):
        # Rows come only from notifications.services.notify (dedupe, preferences, delivery).
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark the selected notifications read")
    def mark_read(self, request, queryset):
        changed = sum(
            services.notification_mark_read(user=n.recipient, notification_id=n.pk)
            for n in queryset.select_related("recipient").filter(in_app=True)
        )
        self.message_user(request, f"{changed} notification(s) marked read.", messages.SUCCESS)

    @admin.action(description="Mark the selected notifications unread")
    def mark_unread(self, request, queryset):
        changed = sum(
            services.notification_mark_unread(user=n.recipient, notification_id=n.pk)
            for n in queryset.select_related("recipient").filter(
                in_app=True, dismissed_at__isnull=True
            )
        )
        self.message_user(request, f"{changed} notification(s) marked unread.", messages.SUCCESS)


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "channel", "enabled")
    list_filter = (KindFilter, "channel", "enabled")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "topic", "kinds", "created_at")
    search_fields = ("user__username", "user__email", "=topic")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(QuietHours)
class QuietHoursAdmin(admin.ModelAdmin):
    list_display = ("user", "start", "end", "time_zone")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(ContactPoint)
class ContactPointAdmin(admin.ModelAdmin):
    list_display = ("user", "phone", "phone_verified", "email_verified")
    search_fields = ("user__username", "user__email", "phone")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    # The pending code is a secret's hash: never edited by hand.
    exclude = ("phone_code_hash",)
    readonly_fields = ("phone_code_expires_at", "phone_code_attempts")


@admin.register(MobileDevice)
class MobileDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "platform", "name", "app_id", "last_seen_at", "created_at")
    list_filter = ("platform",)
    search_fields = ("user__username", "user__email", "token", "name")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    exclude = ("secret_hash",)


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "endpoint", "created_at", "last_seen_at")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
