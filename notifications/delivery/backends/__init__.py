"""Provider backends, one per channel, chosen by dotted path in ``settings.DELIVERY_BACKENDS``.

A backend only talks to its provider: it takes a ready message (see ``messages``), returns the
provider's message id, and raises ``DeliveryError`` (retry), ``PermanentDeliveryError`` (dead) or
``SubscriptionGone`` (web push: drop that browser). Rendering, retries and bookkeeping live in
``notifications.delivery.service``; a backend never touches the database.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string


def get_backend(channel: str):
    """A fresh backend instance for ``channel``, read from settings at call time (tests swap them)."""
    try:
        path = settings.DELIVERY_BACKENDS[channel]
    except KeyError:
        raise LookupError(f"No delivery backend configured for channel {channel!r}") from None
    return import_string(path)()
