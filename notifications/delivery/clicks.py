"""Signed click-through links for email and web push, so a Delivery row records its click.

A token names (notification id, channel) and is signed with ``SECRET_KEY``; it carries no
destination, so the redirect can only lead to the notification's own URL (no open redirect).
Tokens do not expire: old emails stay in inboxes, and a click on a purged notification still
lands on the notification center.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from notifications.models import Channel

SALT = "herald.delivery.click"
ROUTES = {Channel.EMAIL: "email:click", Channel.PUSH: "push:clicked"}


def url_for(*, notification_id: int, channel: str) -> str:
    token = signing.dumps({"n": notification_id, "c": channel}, salt=SALT, compress=True)
    return settings.SITE_URL + reverse(ROUTES[channel], args=[token])


def target_of(token: str, *, channel: str) -> int | None:
    """The notification id a token names for ``channel``, or None when forged or for another."""
    try:
        data = signing.loads(token, salt=SALT)
        notification_id, token_channel = int(data["n"]), data["c"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return notification_id if token_channel == channel else None
