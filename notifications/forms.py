"""Forms of the preferences page: the kind × channel matrix and quiet hours."""

from zoneinfo import available_timezones

from django import forms

from notifications.kinds import user_facing_kinds
from notifications.models import Channel


def field_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class PreferenceMatrixForm(forms.Form):
    """One checkbox per (user-facing kind, channel), initially the user's current choice."""

    def __init__(self, *args, matrix: dict[str, dict[str, bool]], **kwargs):
        super().__init__(*args, **kwargs)
        self.matrix = matrix
        for kind in user_facing_kinds():
            for channel in Channel:
                self.fields[field_name(kind.key, channel.value)] = forms.BooleanField(
                    required=False,
                    initial=matrix[kind.key][channel.value],
                    label=f"{kind.label}: {channel.label}",
                )

    def rows(self):
        """(kind, [bound field per channel]) in catalogue order, for the table."""
        return [
            (kind, [self[field_name(kind.key, channel.value)] for channel in Channel])
            for kind in user_facing_kinds()
        ]

    def changes(self) -> list[tuple[str, str, bool]]:
        """(kind, channel, enabled) for each box that differs from the current choice."""
        return [
            (kind.key, channel.value, self.cleaned_data[field_name(kind.key, channel.value)])
            for kind in user_facing_kinds()
            for channel in Channel
            if self.cleaned_data[field_name(kind.key, channel.value)]
            != self.matrix[kind.key][channel.value]
        ]


def _time_zone_choices():
    return [(name, name) for name in sorted(available_timezones())]


class QuietHoursForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Pause non-urgent email, push and SMS daily")
    start = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end = forms.TimeField(
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="An end before the start runs past midnight (22:00 → 07:00).",
    )
    time_zone = forms.ChoiceField(choices=_time_zone_choices, initial="UTC")

    def __init__(self, *args, instance_values=None, **kwargs):
        if instance_values is not None and not args:
            kwargs["initial"] = {
                "enabled": True,
                "start": instance_values.start,
                "end": instance_values.end,
                "time_zone": instance_values.time_zone,
            }
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("enabled"):
            if data.get("start") is None or data.get("end") is None:
                raise forms.ValidationError("Quiet hours need a start and an end time.")
            if data["start"] == data["end"]:
                raise forms.ValidationError("Start and end must differ.")
        return data
