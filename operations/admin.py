"""Admin of operations: alert incidents (read-only history) and broadcasts."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from operations import broadcasts
from operations.models import Audience, Broadcast, BroadcastStatus, Incident


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


class BroadcastForm(forms.ModelForm):
    class Meta:
        model = Broadcast
        fields = ("title", "body", "url", "priority", "audience", "event", "group")

    def clean(self):
        data = super().clean()
        audience = data.get("audience")
        if audience == Audience.EVENT and not data.get("event"):
            self.add_error("event", "Choose the event whose registrants receive it.")
        if audience == Audience.GROUP and not data.get("group"):
            self.add_error("group", "Choose the group that receives it.")
        # Only the chosen audience's target is kept.
        if audience != Audience.EVENT:
            data["event"] = None
        if audience != Audience.GROUP:
            data["group"] = None
        return data


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    """Compose (a draft), preview it with its recipient count, send it once, watch it go out."""

    form = BroadcastForm
    list_display = ("title", "audience", "priority", "status", "progress", "created_at")
    list_filter = ("status", "audience")
    raw_id_fields = ("event",)
    change_form_template = "admin/operations/broadcast/change_form.html"
    sent_fields = ("title", "body", "url", "priority", "audience", "event", "group", "status",
                   "created_by", "started_at", "finished_at", "recipients_total",
                   "recipients_done")

    @admin.display(description="Progress")
    def progress(self, broadcast):
        return f"{broadcast.recipients_done} / {broadcast.recipients_total}"

    def get_fields(self, request, obj=None):
        if obj is not None and obj.status != BroadcastStatus.DRAFT:
            return self.sent_fields
        return BroadcastForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != BroadcastStatus.DRAFT:
            return self.sent_fields
        return ()

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.status == BroadcastStatus.DRAFT

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # After composing, the preview (the change page) is the next step, not the list.
        return redirect(reverse("admin:operations_broadcast_change", args=[obj.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        broadcast = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if broadcast is not None:
            extra["broadcast"] = broadcast
            if broadcast.status == BroadcastStatus.DRAFT:
                extra["preview"] = broadcasts.broadcast_preview(broadcast=broadcast)
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def get_urls(self):
        own = [
            path("<int:broadcast_id>/send/", self.admin_site.admin_view(self.send_view),
                 name="operations_broadcast_send"),
            path("<int:broadcast_id>/progress/",
                 self.admin_site.admin_view(self.progress_view),
                 name="operations_broadcast_progress"),
        ]
        return own + super().get_urls()

    def send_view(self, request, broadcast_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
        if not self.has_change_permission(request, broadcast):
            raise PermissionDenied
        if broadcasts.broadcast_send(broadcast_id=broadcast.pk):
            self.message_user(request, f"“{broadcast}” is on its way.", messages.SUCCESS)
        else:
            self.message_user(request, f"“{broadcast}” was already sent; nothing sent again.",
                              messages.WARNING)
        return redirect(reverse("admin:operations_broadcast_change", args=[broadcast.pk]))

    def progress_view(self, request, broadcast_id):
        broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
        if not self.has_view_permission(request, broadcast):
            raise PermissionDenied
        return TemplateResponse(
            request, "admin/operations/broadcast/change_form.html#progress",
            {"broadcast": broadcast},
        )
