from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator, model_validator

from notifications.kinds import KINDS

MAX_RECIPIENTS = 10_000


class NotificationIn(Schema):
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
        default_factory=dict, description="Rendered by the kind's templates; stored as `data`."
    )
    priority: Literal["urgent", "high", "normal", "low"] | None = Field(
        default=None, description="Defaults to the kind's priority."
    )
    url: str = Field(default="", max_length=500, description="Click-through link.")
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

    @model_validator(mode="after")
    def someone_to_notify(self):
        if not self.recipients and not self.topic:
            raise ValueError("give `recipients` (user ids), a `topic`, or both")
        return self


class NotificationCreated(Schema):
    created: int = Field(description="Notifications stored (one per recipient).")
    duplicates: int = Field(description="Recipients who already had this dedupe key.")
    notification_ids: list[int]


class Error(Schema):
    detail: str
    errors: list[dict[str, Any]] | None = None
