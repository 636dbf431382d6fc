"""Event forms: field parsing here, the rules themselves in ``services.event_validate``."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from events.models import Event
from events.services import EDITABLE_FIELDS, event_validate


def add_validation_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ``ValidationError`` on the form, per field where it names one."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in error.messages:
            form.add_error(None, message)


def check_event_rules(form: forms.BaseForm, *, confirmed_count: int, is_new: bool) -> None:
    """Run ``event_validate`` on a bound form's cleaned data (page form and admin form)."""
    cleaned = form.cleaned_data
    try:
        event_validate(
            starts_at=cleaned.get("starts_at"),
            ends_at=cleaned.get("ends_at"),
            capacity=cleaned.get("capacity"),
            confirmed_count=confirmed_count,
            # An edit that leaves the start alone may keep an event that is already running.
            check_start_in_future=is_new or "starts_at" in form.changed_data,
        )
    except ValidationError as error:
        add_validation_error(form, error)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class EventForm(forms.ModelForm):
    """Create (``instance`` unset) or edit an event; pass ``confirmed_count`` when editing."""

    class Meta:
        model = Event
        fields = list(EDITABLE_FIELDS)
        widgets = {
            "starts_at": DateTimeLocalInput(),
            "ends_at": DateTimeLocalInput(),
            "description": forms.Textarea(attrs={"rows": 5}),
        }
        labels = {"starts_at": "Starts", "ends_at": "Ends", "location": "Place"}

    def __init__(self, *args, confirmed_count: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.confirmed_count = confirmed_count
        zone = timezone.get_current_timezone_name()
        for name in ("starts_at", "ends_at"):
            self.fields[name].help_text = f"Time zone: {zone}."
            self.fields[name].input_formats = [
                "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"
            ]
        self.fields["capacity"].min_value = 1
        self.fields["capacity"].widget.attrs["min"] = 1

    def clean(self):
        cleaned = super().clean()
        check_event_rules(
            self, confirmed_count=self.confirmed_count, is_new=self.instance.pk is None
        )
        return cleaned

    def changes(self) -> dict:
        """The edited fields and their new values, for ``services.event_update``."""
        return {
            name: self.cleaned_data[name] for name in self.changed_data if name in EDITABLE_FIELDS
        }
