"""What a backend receives: plain data, already rendered, no model instances.

``recipient_id``, ``kind`` and ``notification_ids`` are for logs; a provider
backend sends only the rendered parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    recipient_id: int | None = None
    kind: str = ""
    notification_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str
    recipient_id: int | None = None
    kind: str = ""
    notification_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class PushMessage:
    endpoint: str
    p256dh: str
    auth: str
    payload: dict
    ttl: int = 24 * 3600
    urgency: str = "normal"  # RFC 8030: very-low | low | normal | high
    recipient_id: int | None = None
    kind: str = ""
    notification_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class MobileMessage:
    """One push to one phone app (APNs or FCM), from the kind's ``mobile.json``."""

    platform: str  # "ios" | "android"
    token: str
    title: str
    body: str
    url: str = ""  # the deep link the app opens
    badge: int | None = None
    collapse_key: str = ""
    app_id: str = ""  # APNs topic (bundle id); empty = the configured default
    urgent: bool = False
    sound: str = ""
    data: dict[str, str] = field(default_factory=dict)
    ttl: int = 24 * 3600
    recipient_id: int | None = None
    kind: str = ""
    notification_ids: tuple[int, ...] = ()
