"""Admin for events. Every change goes through ``events.services``, so an edit made here
notifies exactly the people a page edit notifies."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from events import selectors, services
from events.forms import check_event_rules
from events.models import Event, Registration, ReminderSent


class RegistrationInline(admin.TabularInline):
    """Read-only: registrations change through the register/leave services only."""

    model = Registration
    extra = 0
    can_delete = False
    fields = ("user", "status", "joined_at")
    readonly_fields = fields
    ordering = ("status", "joined_at", "pk")
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = (
        "title", "starts_at", "location", "status", "organizer", "confirmed", "capacity"
    )
    list_filter = ("status", ("starts_at", admin.DateFieldListFilter))
    date_hierarchy = "starts_at"
    search_fields = ("title", "location", "organizer__username")
    list_select_related = ("organizer",)
    inlines = [RegistrationInline]
    actions = ["cancel_events"]
    readonly_fields = ("status", "created_at", "updated_at")
    fields = (
        "title", "description", "location", "starts_at", "ends_at", "capacity", "organizer",
        "status", "created_at", "updated_at",
    )

    def get_queryset(self, request):
        return selectors.events_with_counts(super().get_queryset(request))

    @admin.display(ordering="confirmed_count", description="Confirmed")
    def confirmed(self, event: Event) -> int:
        return event.confirmed_count

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting would drop the registrations without telling anyone: cancel instead.
        return False

    def get_readonly_fields(self, request, obj=None):
        # The organizer is chosen once; moving ownership is not an edit attendees hear about.
        return self.readonly_fields + (("organizer",) if obj else ())

    def save_model(self, request, obj: Event, form, change: bool) -> None:
        """Creates and edits go through the services (validation and notifications)."""
        try:
            if change:
                changes = {
                    name: form.cleaned_data[name]
                    for name in form.changed_data
                    if name in services.EDITABLE_FIELDS
                }
                updated = services.event_update(event=obj, actor=request.user, changes=changes)
            else:
                updated = services.event_create(
                    organizer=form.cleaned_data["organizer"],
                    **{name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS},
                )
        except ValidationError as error:
            # The form validated already; this is a race (e.g. someone registered meanwhile).
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
            raise
        obj.pk = updated.pk
        obj.refresh_from_db()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        confirmed = selectors.event_confirmed_count(event=obj) if obj else 0

        class EventAdminForm(form):
            def clean(self):
                cleaned = super().clean()
                check_event_rules(self, confirmed_count=confirmed, is_new=obj is None)
                return cleaned

        return EventAdminForm

    @admin.action(description="Cancel selected events (notifies everyone registered)")
    def cancel_events(self, request, queryset) -> None:
        cancelled = 0
        for event in queryset:
            if not event.is_cancelled:
                services.event_cancel(event=event, actor=request.user)
                cancelled += 1
        self.message_user(request, f"{cancelled} event(s) cancelled.", messages.SUCCESS)


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ("event", "user", "status", "joined_at")
    list_filter = ("status",)
    search_fields = ("event__title", "user__username")
    list_select_related = ("event", "user")
    readonly_fields = ("event", "user", "status", "joined_at", "created_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReminderSent)
class ReminderSentAdmin(admin.ModelAdmin):
    list_display = ("registration", "which", "starts_at", "sent_at")
    list_filter = ("which",)
    list_select_related = ("registration",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
