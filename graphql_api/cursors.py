"""Opaque keyset cursors: the sort key of the last row a client has, never an offset."""

import base64
from datetime import datetime

from graphql_api.errors import bad_input


def encode(prefix: str, *parts) -> str:
    text = ":".join([prefix, *(str(part) for part in parts)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, prefix: str, count: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeError):
        raise bad_input("Invalid cursor.") from None
    # Time stamps contain colons: split off the prefix, then the id from the right.
    found_prefix, _, rest = text.partition(":")
    parts = rest.rsplit(":", count - 1) if count > 1 else [rest]
    if found_prefix != prefix or len(parts) != count or not all(parts):
        raise bad_input("Invalid cursor.")
    return parts


def _positive(value: str) -> int:
    if not value.isdigit():
        raise bad_input("Invalid cursor.")
    return int(value)


def notification_cursor(notification_id: int) -> str:
    return encode("n", notification_id)


def notification_id_of(cursor: str) -> int:
    return _positive(_decode(cursor, "n", 1)[0])


def event_cursor(starts_at: datetime, event_id: int) -> str:
    return encode("e", starts_at.isoformat(), event_id)


def event_key_of(cursor: str) -> tuple[datetime, int]:
    starts_at, event_id = _decode(cursor, "e", 2)
    try:
        moment = datetime.fromisoformat(starts_at)
    except ValueError:
        raise bad_input("Invalid cursor.") from None
    return moment, _positive(event_id)
