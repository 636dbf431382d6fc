from __future__ import annotations

import json
from typing import Any, Literal

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from notifications.kinds import KINDS
from notifications.links import is_safe_url

MAX_RECIPIENTS = 10_000
# `context` is copied into every recipient's row and rendered into every email: kept small.
MAX_CONTEXT_BYTES = 8192
MAX_CONTEXT_KEYS = 50
MAX_CONTEXT_KEY_LENGTH = 64
MAX_CONTEXT_DEPTH = 4


def _depth(value, level: int = 1) -> int:
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level)
    return level - 1


# The request bodies are plain pydantic models: ninja's Schema adds a validator for reading ORM
# objects that an input never needs, and it took a third of a 1,000-notification request's time.
class NotificationIn(BaseModel):
    """One notification for many recipients: user ids, the followers of a topic, or both."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="A kind of the catalogue, e.g. `event_updated`.")
    recipients: list[int] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS, description="User ids."
    )
    topic: str | None = Field(
        default=None,
        max_length=200,
        description="Also notify the followers of this topic, e.g. `events.event:12`.",
    )
    subject: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*:\d+$",
        description="What it is about, written like a topic: `events.event:12`.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Rendered by the kind's templates; stored as `data`. At most "
        f"{MAX_CONTEXT_KEYS} keys of up to {MAX_CONTEXT_KEY_LENGTH} characters, "
        f"{MAX_CONTEXT_BYTES} bytes as JSON, nested {MAX_CONTEXT_DEPTH} levels deep.",
    )
    priority: Literal["urgent", "high", "normal", "low"] | None = Field(
        default=None, description="Defaults to the kind's priority."
    )
    url: str = Field(
        default="",
        max_length=500,
        description="Click-through link: a path on this site (`/events/12/`) or an http(s) URL "
        "on this site's origin or an allowed host.",
    )
    dedupe_key: str | None = Field(
        default=None,
        max_length=150,
        description="Stable id of the logical notification (defaults to the Idempotency-Key).",
    )

    @field_validator("kind")
    @classmethod
    def kind_in_catalogue(cls, value: str) -> str:
        kind = KINDS.get(value)
        if kind is None or kind.internal:
            public = ", ".join(key for key, k in KINDS.items() if not k.internal)
            raise ValueError(f"unknown kind {value!r}; one of: {public}")
        return value

    @field_validator("context")
    @classmethod
    def context_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_CONTEXT_KEYS:
            raise ValueError(f"context has {len(value)} keys; the limit is {MAX_CONTEXT_KEYS}")
        long_keys = [key for key in value if len(key) > MAX_CONTEXT_KEY_LENGTH]
        if long_keys:
            raise ValueError(
                f"context keys are limited to {MAX_CONTEXT_KEY_LENGTH} characters "
                f"({long_keys[0][:20]!r}... is longer)"
            )
        if _depth(value) > MAX_CONTEXT_DEPTH:
            raise ValueError(f"context is nested deeper than {MAX_CONTEXT_DEPTH} levels")
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(
                f"context is {size} bytes as JSON; the limit is {MAX_CONTEXT_BYTES} bytes"
            )
        return value

    @field_validator("url")
    @classmethod
    def url_on_this_site(cls, value: str) -> str:
        if not is_safe_url(value):
            raise ValueError(
                "url must be a path on this site or an http(s) URL on this site's origin "
                "(or NOTIFICATION_URL_ALLOWED_HOSTS)"
            )
        return value

    @model_validator(mode="after")
    def someone_to_notify(self):
        if not self.recipients and not self.topic:
            raise ValueError("give `recipients` (user ids), a `topic`, or both")
        return self


MAX_BULK_NOTIFICATIONS = 1000


class NotificationBulkIn(BaseModel):
    """Many notifications in one request, each as the single endpoint takes it."""

    model_config = ConfigDict(extra="forbid")

    notifications: list[NotificationIn] = Field(
        min_length=1,
        max_length=MAX_BULK_NOTIFICATIONS,
        description=f"1 to {MAX_BULK_NOTIFICATIONS} notifications; at most {MAX_RECIPIENTS} "
        "recipient ids in all.",
    )

    @model_validator(mode="after")
    def recipients_bounded(self):
        total = sum(len(notification.recipients) for notification in self.notifications)
        if total > MAX_RECIPIENTS:
            raise ValueError(
                f"the notifications name {total} recipient ids in all; the limit is "
                f"{MAX_RECIPIENTS}"
            )
        return self


class NotificationCreated(Schema):
    created: int = Field(description="Notifications stored (one per recipient).")
    duplicates: int = Field(description="Recipients who already had this dedupe key.")
    notification_ids: list[int]


class Error(Schema):
    detail: str
    errors: list[dict[str, Any]] | None = None


class NotificationBulkCreated(Schema):
    created: int = Field(description="Notifications stored, all requests together.")
    duplicates: int = Field(description="Recipients who already had their dedupe key.")
    results: list[NotificationCreated] = Field(
        description="One per notification of the request, in its order."
    )
