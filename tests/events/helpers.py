"""Assertions on what was stored: the Notification table is the record of what was sent."""

from notifications.models import Notification


def received(user, kind: str) -> list[Notification]:
    """The notifications of ``kind`` stored for ``user``, oldest first."""
    return list(Notification.objects.filter(recipient=user, kind=kind).order_by("id"))


def recipients_of(kind: str, **filters) -> set[str]:
    return set(
        Notification.objects.filter(kind=kind, **filters).values_list(
            "recipient__username", flat=True
        )
    )
