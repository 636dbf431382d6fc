"""A record of what was sent, per channel, for tests (like ``django.core.mail.outbox``).

Off by default. The ``notification_outbox`` pytest fixture turns it on; the in-app push and the
delivery backends call ``record`` after each real send, so tests assert on what actually went out
without replacing any of our code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

_lock = threading.Lock()
_sent: list[Sent] | None = None


@dataclass(frozen=True)
class Sent:
    channel: str
    user_id: int
    kind: str
    notification_id: int | None = None
    payload: dict = field(default_factory=dict)


def enable() -> list[Sent]:
    global _sent
    with _lock:
        _sent = []
        return _sent


def disable() -> None:
    global _sent
    with _lock:
        _sent = None


def is_enabled() -> bool:
    return _sent is not None


def record(
    *, channel: str, user_id: int, kind: str, notification_id: int | None = None, payload=None
) -> None:
    """Note one send; a no-op unless a test enabled the outbox."""
    with _lock:
        if _sent is not None:
            _sent.append(Sent(channel, user_id, kind, notification_id, dict(payload or {})))


def sent() -> list[Sent]:
    with _lock:
        return list(_sent or [])
