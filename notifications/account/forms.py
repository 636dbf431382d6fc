"""Forms of sign-up and the account page."""

from __future__ import annotations

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Django's sign-up plus the email address notifications are sent to."""

    email = forms.EmailField(
        help_text="Where email notifications go; a link confirms it is yours."
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class EmailForm(forms.Form):
    email = forms.EmailField(label="Email address")


def normalize_phone(value: str) -> str:
    """``value`` as E.164 (``+4915112345678``), or ``ValidationError``."""
    region = settings.PHONE_DEFAULT_REGION
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise forms.ValidationError(
            "Enter the number with its country code, e.g. +49 151 12345678."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise forms.ValidationError("That is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label="Mobile number", max_length=32,
        help_text="With the country code, e.g. +49 151 12345678. A code by SMS confirms it.",
    )

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])


class PhoneCodeForm(forms.Form):
    code = forms.RegexField(
        label="Code from the SMS", regex=r"^\s*\d{6}\s*$", max_length=12,
        error_messages={"invalid": "The code has six digits."},
    )
