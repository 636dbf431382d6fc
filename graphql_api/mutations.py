"""Mutations: each calls one service in its own transaction and answers with a payload.

A refusal the caller can act on (not logged in, not found, invalid, closed, over a limit) is a
``UserError`` in the payload's ``errors``, not a failed request; the payload's other fields are
then null. Another user's notification is "not found", like an id that never existed.
"""

from __future__ import annotations

from datetime import datetime, time
from enum import Enum

import pydantic
import strawberry
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from strawberry.scalars import JSON
from strawberry.types import Info

from events import selectors as event_selectors
from events import services as event_services
from events.models import Event as EventModel
from graphql_api.errors import ErrorCode, UserError
from graphql_api.types import (
    Channel,
    Event,
    Notification,
    Priority,
    QuietHours,
    Registration,
    with_event_ids,
)
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.account import services as account_services
from notifications.api import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    ApiKeyRevoked,
    RateLimited,
    authenticate_api_key,
)
from notifications.api import services as api_services
from notifications.api.devices import DeviceIn
from notifications.api.schemas import NotificationIn
from notifications.models import Notification as NotificationModel


class Refused(Exception):
    """A refusal raised by the code below, carried to the payload as a UserError."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None):
        super().__init__(message)
        self.error = UserError(code=code, message=message, field=field)


def _user_error(error: Exception) -> UserError | None:
    if isinstance(error, Refused):
        return error.error
    if isinstance(error, (NotificationModel.DoesNotExist, EventModel.DoesNotExist)):
        what = "notification" if isinstance(error, NotificationModel.DoesNotExist) else "event"
        return UserError(code=ErrorCode.NOT_FOUND, message=f"No such {what}.")
    if isinstance(error, event_services.RegistrationClosed):
        return UserError(code=ErrorCode.CLOSED, message=" ".join(error.messages))
    if isinstance(error, ValidationError):
        return UserError(code=ErrorCode.INVALID, message=" ".join(error.messages))
    if isinstance(error, ValueError):
        return UserError(code=ErrorCode.INVALID, message=str(error))
    return None


def _validated(schema, body: dict):
    """``schema(**body)``, its first validation error refused as INVALID on that field."""
    try:
        return schema(**body)
    except pydantic.ValidationError as invalid:
        first = invalid.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise Refused(ErrorCode.INVALID, first["msg"], field=field) from None


async def attempt(work, *args, **kwargs):
    """Run the sync ``work`` in one transaction, so its after-commit effects (badge, socket
    events, deliveries) happen before the payload is answered. Returns (value, errors)."""

    def run():
        with transaction.atomic():
            return work(*args, **kwargs)

    try:
        return await sync_to_async(run)(), []
    except Exception as error:
        user_error = _user_error(error)
        if user_error is None:
            raise
        return None, [user_error]


def _signed_in(info: Info):
    user = info.context.user
    if user is None or not user.is_authenticated:
        raise Refused(ErrorCode.UNAUTHENTICATED, "Log in to use this API.")
    return user


def _id(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Refused(ErrorCode.NOT_FOUND, "No such object.") from None
    if not 0 < number < 2**63:
        raise Refused(ErrorCode.NOT_FOUND, "No such object.")
    return number


async def guarded(info: Info, work, *args, **kwargs):
    """``attempt`` for a logged-in viewer; the viewer is passed to ``work`` first."""
    try:
        user = _signed_in(info)
    except Refused as refused:
        return None, [refused.error]
    return await attempt(work, user, *args, **kwargs)


# --- Notifications --------------------------------------------------------------------------


@strawberry.type
class NotificationPayload:
    notification: Notification | None = None
    changed: bool | None = None
    unread_count: int | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CountPayload:
    count: int | None = None
    unread_count: int | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _notification_change(user, service, notification_id):
    changed = service(user=user, notification_id=_id(notification_id))
    row = notification_selectors.visible_notifications(user=user).filter(
        pk=_id(notification_id)
    ).first()
    return row, changed


def _notification_payload(value, errors, user) -> NotificationPayload:
    if errors:
        return NotificationPayload(errors=errors)
    row, changed = value
    return NotificationPayload(
        notification=with_event_ids([row])[0] if row else None,
        changed=changed,
        unread_count=notification_selectors.unread_count(user=user),
    )


async def _change_notification(info: Info, service, notification_id) -> NotificationPayload:
    value, errors = await guarded(info, _notification_change, service, notification_id)
    return await sync_to_async(_notification_payload)(value, errors, info.context.user)


async def _count(info: Info, service) -> CountPayload:
    count, errors = await guarded(info, lambda user: service(user=user))
    if errors:
        return CountPayload(errors=errors)
    unread = await sync_to_async(notification_selectors.unread_count)(user=info.context.user)
    return CountPayload(count=count, unread_count=unread)


# --- Preferences ----------------------------------------------------------------------------


@strawberry.type
class PreferencePayload:
    kind: str | None = None
    channel: Channel | None = None
    enabled: bool | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class QuietHoursPayload:
    quiet_hours: QuietHours | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ChangedPayload:
    changed: bool | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


# --- Events ---------------------------------------------------------------------------------


@strawberry.type
class EventPayload:
    event: Event | None = None
    registration: Registration | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _event_action(user, event_id, action) -> int:
    event = event_selectors.event_get(event_id=_id(event_id))
    action(user=user, event=event)
    return event.pk


def _event_payload(event_id: int | None, errors, user) -> EventPayload:
    if errors:
        return EventPayload(errors=errors)
    event = event_selectors.event_get(event_id=event_id)  # the counts after the change
    return EventPayload(
        event=event, registration=event_selectors.registration_of(user=user, event=event)
    )


async def _event_mutation(info: Info, event_id, action) -> EventPayload:
    """The event (and the viewer's registration) as they are after ``action``."""
    changed_id, errors = await guarded(info, _event_action, event_id, action)
    return await sync_to_async(_event_payload)(changed_id, errors, info.context.user)


# --- Services with an API key ---------------------------------------------------------------


@strawberry.input(description="The body of POST /api/v1/notifications, as GraphQL input.")
class SendNotificationInput:
    kind: str
    recipients: list[int] | None = strawberry.UNSET
    topic: str | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    context: JSON | None = strawberry.UNSET
    priority: Priority | None = strawberry.UNSET
    url: str | None = strawberry.UNSET
    dedupe_key: str | None = strawberry.UNSET


@strawberry.type
class SendNotificationPayload:
    created: int | None = None
    duplicates: int | None = None
    notification_ids: list[strawberry.ID] | None = None
    replayed: bool | None = strawberry.field(
        default=None, description="True when this answers a repeat of an Idempotency key."
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


def _given(input: SendNotificationInput) -> dict:
    """The fields the caller gave, as the HTTP API's JSON body would have them."""
    body = {}
    for name in ("kind", "recipients", "topic", "subject", "context", "priority", "url",
                 "dedupe_key"):
        value = getattr(input, name)
        if value is strawberry.UNSET or value is None:
            continue
        body[name] = value.value if isinstance(value, Priority) else value
    return body


def _send_notification(
    raw_key: str | None, request, idempotency_key: str, input: SendNotificationInput
):
    try:
        # With the request, unknown keys count against the client address as on the HTTP API.
        api_key = authenticate_api_key(raw_key, request)
    except ApiKeyRevoked:
        raise Refused(ErrorCode.FORBIDDEN, "This API key has been revoked.") from None
    except RateLimited as limited:
        raise Refused(
            ErrorCode.RATE_LIMITED,
            f"Rate limit exceeded; retry in {limited.retry_after} s.",
        ) from None
    if api_key is None:
        raise Refused(
            ErrorCode.UNAUTHENTICATED,
            "sendNotification needs an API key (X-Api-Key or Authorization: Bearer).",
        )
    if not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        raise Refused(ErrorCode.INVALID,
                      f"idempotencyKey must have 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters.",
                      field="idempotencyKey")
    body = _given(input)
    payload = _validated(NotificationIn, body)
    try:
        return api_services.api_notification_send(
            api_key=api_key, idempotency_key=idempotency_key, payload=payload, body=body
        )
    except api_services.ScopeRefused as refused:
        raise Refused(ErrorCode.FORBIDDEN, f"{refused}.") from None
    except api_services.UnknownSubject as unknown:
        raise Refused(ErrorCode.INVALID, f"{unknown}.", field="subject") from None
    except api_services.IdempotencyConflict:
        raise Refused(ErrorCode.CONFLICT, "This idempotencyKey was already used with a "
                      "different notification.", field="idempotencyKey") from None


# --- Phone-app devices ------------------------------------------------------------------------


@strawberry.enum
class DevicePlatform(Enum):
    IOS = "ios"
    ANDROID = "android"


@strawberry.type(description="A phone running the Herald app, pushed through APNs or FCM.")
class MobileDevice:
    id: strawberry.ID
    platform: DevicePlatform
    app_id: str
    name: str
    created_at: datetime
    last_seen_at: datetime


@strawberry.type
class DevicePayload:
    device: MobileDevice | None = None
    device_secret: str | None = strawberry.field(
        default=None,
        description="For POST/DELETE /api/v1/devices as X-Device-Secret; shown once.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


def _register_device(user, platform: DevicePlatform, token: str, app_id: str, name: str):
    given = _validated(
        DeviceIn, {"platform": platform.value, "token": token, "app_id": app_id, "name": name}
    )
    device, secret = account_services.mobile_device_register(
        user=user, platform=given.platform, token=given.token, app_id=given.app_id,
        name=given.name,
    )
    view = MobileDevice(
        id=strawberry.ID(str(device.pk)), platform=DevicePlatform(device.platform),
        app_id=device.app_id, name=device.name, created_at=device.created_at,
        last_seen_at=device.last_seen_at,
    )
    return view, secret


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def mark_read(self, info: Info, id: strawberry.ID) -> NotificationPayload:
        return await _change_notification(info, notification_services.notification_mark_read, id)

    @strawberry.mutation
    async def mark_unread(self, info: Info, id: strawberry.ID) -> NotificationPayload:
        return await _change_notification(
            info, notification_services.notification_mark_unread, id
        )

    @strawberry.mutation(description="Hide one notification from the center (it counts as read).")
    async def dismiss(self, info: Info, id: strawberry.ID) -> NotificationPayload:
        return await _change_notification(info, notification_services.notification_dismiss, id)

    @strawberry.mutation(description="Mark every notification read; `count` is how many changed.")
    async def mark_all_read(self, info: Info) -> CountPayload:
        return await _count(info, notification_services.notification_mark_all_read)

    @strawberry.mutation(description="Dismiss every notification: the center is empty after it.")
    async def clear_all(self, info: Info) -> CountPayload:
        return await _count(
            info, lambda user: notification_services.notification_dismiss_all(user=user)[0]
        )

    @strawberry.mutation(description="Turn one kind on or off on one channel.")
    async def set_preference(
        self, info: Info, kind: str, channel: Channel, enabled: bool
    ) -> PreferencePayload:
        preference, errors = await guarded(
            info,
            lambda user: notification_services.preference_set(
                user=user, kind=kind, channel=channel.value, enabled=enabled
            ),
        )
        if errors:
            return PreferencePayload(errors=errors)
        return PreferencePayload(kind=preference.kind, channel=Channel(preference.channel),
                                 enabled=preference.enabled)

    @strawberry.mutation(description="Daily quiet hours; `end` before `start` wraps midnight.")
    async def set_quiet_hours(
        self, info: Info, start: time, end: time, time_zone: str = "UTC"
    ) -> QuietHoursPayload:
        quiet, errors = await guarded(
            info,
            lambda user: notification_services.quiet_hours_set(
                user=user, start=start, end=end, time_zone=time_zone
            ),
        )
        return QuietHoursPayload(quiet_hours=quiet, errors=errors)

    @strawberry.mutation
    async def clear_quiet_hours(self, info: Info) -> ChangedPayload:
        changed, errors = await guarded(
            info, lambda user: notification_services.quiet_hours_clear(user=user)
        )
        return ChangedPayload(changed=changed, errors=errors)

    @strawberry.mutation(description="Follow every notification about an event.")
    async def follow(self, info: Info, event_id: strawberry.ID) -> EventPayload:
        return await _event_mutation(info, event_id, event_services.event_follow)

    @strawberry.mutation
    async def unfollow(self, info: Info, event_id: strawberry.ID) -> EventPayload:
        return await _event_mutation(info, event_id, event_services.event_unfollow)

    @strawberry.mutation(description="A place while there is one, else the waiting list.")
    async def register_for_event(self, info: Info, event_id: strawberry.ID) -> EventPayload:
        return await _event_mutation(info, event_id, event_services.registration_create)

    @strawberry.mutation(description="Leave the event or its waiting list.")
    async def leave_event(self, info: Info, event_id: strawberry.ID) -> EventPayload:
        return await _event_mutation(info, event_id, event_services.registration_cancel)

    @strawberry.mutation(description="Register this phone's APNs or FCM token for the viewer.")
    async def register_device(
        self, info: Info, platform: DevicePlatform, token: str, app_id: str = "", name: str = ""
    ) -> DevicePayload:
        value, errors = await guarded(info, _register_device, platform, token, app_id, name)
        if errors:
            return DevicePayload(errors=errors)
        device, secret = value
        return DevicePayload(device=device, device_secret=secret)

    @strawberry.mutation(description="Stop pushes to one of the viewer's phones.")
    async def unregister_device(self, info: Info, id: strawberry.ID) -> ChangedPayload:
        def remove(user):
            if not account_services.mobile_device_remove(user=user, device_id=_id(id)):
                raise Refused(ErrorCode.NOT_FOUND, "No such device.")
            return True

        changed, errors = await guarded(info, remove)
        return ChangedPayload(changed=changed, errors=errors)

    @strawberry.mutation(
        description="For services: notify users, with the HTTP API's rules (an API key, its "
        "rate limit, an idempotency key, the same validation)."
    )
    async def send_notification(
        self, info: Info, input: SendNotificationInput, idempotency_key: str
    ) -> SendNotificationPayload:
        result, errors = await attempt(
            _send_notification, info.context.api_key_header, info.context.request,
            idempotency_key, input
        )
        if errors:
            return SendNotificationPayload(errors=errors)
        body = result.body
        return SendNotificationPayload(
            created=body["created"],
            duplicates=body["duplicates"],
            notification_ids=[strawberry.ID(str(pk)) for pk in body["notification_ids"]],
            replayed=result.replayed,
        )
