"""Signed one-click unsubscribe links for email (RFC 8058 ``List-Unsubscribe-Post``).

The link names a (user, kind) pair and is signed with ``SECRET_KEY``; it does not expire, as old
emails stay in inboxes. Following it turns that kind's email off for that user, nothing more.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse

from notifications.kinds import Kind, get_kind

SALT = "herald.delivery.email-unsubscribe"


def token_for(*, user_id: int, kind: str) -> str:
    return signing.dumps({"u": user_id, "k": kind}, salt=SALT)


def url_for(*, user_id: int, kind: str) -> str:
    path = reverse("email:unsubscribe", args=[token_for(user_id=user_id, kind=kind)])
    return settings.SITE_URL + path


def target_of(token: str):
    """The (user, Kind) a token names, or None when it is forged or names nothing any more."""
    try:
        data = signing.loads(token, salt=SALT)
        kind: Kind = get_kind(data["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    user = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    return (user, kind) if user is not None else None
