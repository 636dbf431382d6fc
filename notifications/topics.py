"""Subscription topics: plain strings, so the notifications app never imports the domain apps."""

from django.db import models


def topic_for(obj: models.Model) -> str:
    """The topic of a model instance, e.g. ``"events.event:12"``."""
    return f"{obj._meta.app_label}.{obj._meta.model_name}:{obj.pk}"
