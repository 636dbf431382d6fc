"""Writes of the events app: every change to an event or a registration goes through here.

Pages, the admin and Celery tasks all call these functions, so each change notifies the same
people. Each function opens its own ``transaction.atomic()`` (joining the caller's, if any) and
locks the event row with ``select_for_update()``: the event row is the mutex for its capacity,
its waiting list, its capacity warnings and its update window. Notifications go through
``notifications.services.notify`` inside that transaction; delivery happens after commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import formats, timezone
from django.utils.timesince import timeuntil

from config.celery import enqueue
from events import live
from events.models import (
    ACTIVE_STATUSES,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    ReminderSent,
    ReminderWhich,
)
from events.selectors import event_confirmed_count, waitlist_position
from notifications import kinds
from notifications.models import topic_for
from notifications.selectors import subscribers, subscriptions_of
from notifications.services import notify, subscription_follow, subscription_unfollow

CAPACITY_THRESHOLDS = (80, 90, 100)
REMINDER_LEADS = {
    ReminderWhich.DAY_BEFORE: timedelta(hours=24),
    ReminderWhich.HOUR_BEFORE: timedelta(hours=1),
}
# Editable through the pages and the admin; any other field changes through its own service.
EDITABLE_FIELDS = ("title", "description", "location", "starts_at", "ends_at", "capacity")
# Fields whose change attendees hear about, with the label the notification shows.
ANNOUNCED_FIELDS = {
    "starts_at": "Starts",
    "ends_at": "Ends",
    "location": "Place",
    "title": "Title",
    "description": "Details",
}
# Registering subscribes to what concerns an attendee; "follow" on the page subscribes to all.
REGISTRATION_SUBSCRIPTION_KINDS = (kinds.EVENT_UPDATED, kinds.EVENT_CANCELLED)


ORGANIZERS_GROUP = "Organizers"


def organizers_group():
    """The group whose members may create events (made by migration 0002; re-made if deleted)."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=ORGANIZERS_GROUP)
    group.permissions.add(
        Permission.objects.get(content_type__app_label="events", codename="add_event")
    )
    return group


class RegistrationClosed(ValidationError):
    """The event is cancelled or has already started."""


# ---------------------------------------------------------------------------------------------
# Validation shared by the forms, the admin and the services.


def event_validate(
    *,
    starts_at: datetime | None,
    ends_at: datetime | None,
    capacity: int | None,
    confirmed_count: int = 0,
    check_start_in_future: bool = True,
    now: datetime | None = None,
) -> None:
    """Raise ``ValidationError`` (keyed by field) when the values break an event rule."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if starts_at and ends_at and ends_at <= starts_at:
        errors.setdefault("ends_at", []).append("The event must end after it starts.")
    if starts_at and check_start_in_future and starts_at <= now:
        errors.setdefault("starts_at", []).append("The start must be in the future.")
    if capacity is not None:
        if capacity < 1:
            errors.setdefault("capacity", []).append("An event needs at least one place.")
        elif capacity < confirmed_count:
            errors.setdefault("capacity", []).append(
                f"{confirmed_count} people are already confirmed: "
                f"the capacity cannot go below {confirmed_count}."
            )
    if errors:
        raise ValidationError(errors)


# ---------------------------------------------------------------------------------------------
# Internals: all expect the event row to be locked by the caller's transaction.


def _lock(event_id: int) -> Event:
    return Event.objects.select_for_update().get(pk=event_id)


def _confirmed_count(event: Event) -> int:
    return event_confirmed_count(event=event)


def _to_minute(moment: datetime) -> datetime:
    """Events are timed to the minute (the forms' precision), so a resubmitted form whose
    times were not touched compares equal and announces no change."""
    return moment.replace(second=0, microsecond=0)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _display_time(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{formats.date_format(local, 'D j M Y, H:i')} {local.tzname()}"


def _event_context(event: Event) -> dict[str, Any]:
    """What every event notification's templates get (see notifications/kinds/<kind>/)."""
    return {
        "event_id": event.pk,
        "event_title": event.title,
        "location": event.location,
        "starts_at": _display_time(event.starts_at),
        "starts_at_iso": event.starts_at.isoformat(),
    }


def _users(ids) -> QuerySet:
    return get_user_model().objects.filter(pk__in=ids)


def _registrant_ids(event: Event, statuses=ACTIVE_STATUSES) -> QuerySet:
    return Registration.objects.filter(event=event, status__in=statuses).values("user_id")


def _follower_ids(event: Event, kind: str) -> QuerySet:
    return subscribers(topic=topic_for(event), kind=kind).values("pk")


def _notify_registration(registration: Registration, kind: str, step: str) -> None:
    event = registration.event
    context = _event_context(event)
    if registration.status == RegistrationStatus.WAITLISTED:
        context["position"] = waitlist_position(registration=registration)
    notify(
        kind=kind,
        recipients=[registration.user_id],
        subject=event,
        context=context,
        dedupe_key=f"event:{event.pk}:registration:{registration.pk}:{step}:"
        f"{_micros(registration.joined_at)}",
        url=event.get_absolute_url(),
    )


def _promote_waitlisted(event: Event) -> list[Registration]:
    """Fill free places from the head of the waiting list and tell each promoted person."""
    if event.status != EventStatus.SCHEDULED:
        return []
    free = event.capacity - _confirmed_count(event)
    if free <= 0:
        return []
    promoted = list(
        Registration.objects.filter(event=event, status=RegistrationStatus.WAITLISTED)
        .select_related("event")
        .order_by("joined_at", "pk")[:free]
    )
    for registration in promoted:
        registration.status = RegistrationStatus.CONFIRMED
        registration.save(update_fields=["status", "updated_at"])
        _notify_registration(registration, kinds.WAITLIST_PROMOTED, "promoted")
    return promoted


def _refresh_capacity_warning(event: Event) -> None:
    """Warn the organizer and followers when the fill level crosses 80%, 90% or 100%.

    Each threshold fires once; falling below it re-arms it. Saves the event's warning fields.
    """
    confirmed = _confirmed_count(event)
    percent = confirmed * 100 / event.capacity
    level = max((t for t in CAPACITY_THRESHOLDS if percent >= t), default=0)
    if level == event.capacity_warning_level:
        return
    if level > event.capacity_warning_level and event.status == EventStatus.SCHEDULED:
        event.capacity_warnings_sent += 1
        recipients = _users([event.organizer_id]) | get_user_model().objects.filter(
            pk__in=_follower_ids(event, kinds.CAPACITY_WARNING)
        )
        notify(
            kind=kinds.CAPACITY_WARNING,
            recipients=recipients,
            subject=event,
            context={
                **_event_context(event),
                "threshold": level,
                "percent": level,
                "is_full": level >= 100,
                "confirmed": confirmed,
                "capacity": event.capacity,
                "places_left": max(event.capacity - confirmed, 0),
            },
            dedupe_key=f"event:{event.pk}:capacity:{level}:{event.capacity_warnings_sent}",
            url=event.get_absolute_url(),
        )
    event.capacity_warning_level = level
    event.save(update_fields=["capacity_warning_level", "capacity_warnings_sent"])


# ---------------------------------------------------------------------------------------------
# Events


@transaction.atomic
def event_create(
    *,
    organizer,
    title: str,
    location: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    description: str = "",
) -> Event:
    starts_at, ends_at = _to_minute(starts_at), _to_minute(ends_at)
    event_validate(starts_at=starts_at, ends_at=ends_at, capacity=capacity)
    event = Event(
        organizer=organizer,
        title=title,
        description=description,
        location=location,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
    )
    event.full_clean()
    event.save()
    return event


def collapse_window() -> timedelta:
    return timedelta(seconds=settings.EVENT_UPDATE_COLLAPSE_SECONDS)


def _serialise(field: str, value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _merge_changes(pending: dict, diff: dict[str, tuple[Any, Any]]) -> dict:
    """Fold ``diff`` into ``pending``, keeping the first old value; drop fields changed back."""
    merged = {field: dict(change) for field, change in pending.items()}
    for field, (old, new) in diff.items():
        old_value = merged.get(field, {}).get("old", _serialise(field, old))
        merged[field] = {"old": old_value, "new": _serialise(field, new)}
        if merged[field]["old"] == merged[field]["new"]:
            del merged[field]
    return merged


def _describe_changes(changes: dict) -> list[dict[str, str]]:
    described = []
    for field, label in ANNOUNCED_FIELDS.items():
        if field not in changes:
            continue
        old, new = changes[field]["old"], changes[field]["new"]
        if field in ("starts_at", "ends_at"):
            old = _display_time(datetime.fromisoformat(old))
            new = _display_time(datetime.fromisoformat(new))
        if field == "description":
            described.append({"field": field, "label": label, "text": "Details changed"})
        else:
            described.append(
                {"field": field, "label": label, "old": old, "new": new,
                 "text": f"{label}: {old} → {new}"}
            )
    return described


def _send_update(event: Event, changes: dict, actor_ids: list[int]) -> int:
    """Notify registrants and followers of ``changes`` (already merged). Returns rows created."""
    described = _describe_changes(changes)
    if not described:
        return 0
    event.updates_sent += 1
    User = get_user_model()
    recipients = User.objects.filter(
        Q(pk__in=_registrant_ids(event)) | Q(pk__in=_follower_ids(event, kinds.EVENT_UPDATED))
    ).exclude(pk__in=actor_ids)
    result = notify(
        kind=kinds.EVENT_UPDATED,
        recipients=recipients,
        subject=event,
        context={
            **_event_context(event),
            "changes": described,
            "summary": "; ".join(change["text"] for change in described),
        },
        dedupe_key=f"event:{event.pk}:updated:{event.updates_sent}",
        url=event.get_absolute_url(),
    )
    return result.created


def event_update(*, event: Event, actor, changes: Mapping[str, Any]) -> Event:
    """Apply ``changes`` (a subset of ``EDITABLE_FIELDS``) and tell the people concerned.

    The first edit after a quiet period notifies at once and opens a collapse window
    (``EVENT_UPDATE_COLLAPSE_SECONDS``); further edits inside the window are merged and sent as
    one update when it closes (``flush_event_update`` task). Raises ``ValidationError``.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    changes = {
        field: _to_minute(value) if field in ("starts_at", "ends_at") else value
        for field, value in changes.items()
    }
    with transaction.atomic():
        event = _lock(event.pk)
        if event.status == EventStatus.CANCELLED:
            raise ValidationError("A cancelled event cannot be edited.")
        diff = {
            field: (getattr(event, field), value)
            for field, value in changes.items()
            if getattr(event, field) != value
        }
        if not diff:
            return event
        new = {field: changes.get(field, getattr(event, field)) for field in EDITABLE_FIELDS}
        event_validate(
            starts_at=new["starts_at"],
            ends_at=new["ends_at"],
            capacity=new["capacity"],
            confirmed_count=_confirmed_count(event),
            check_start_in_future="starts_at" in diff,
        )
        for field, (_, value) in diff.items():
            setattr(event, field, value)
        _record_update(event, diff, actor_id=getattr(actor, "pk", None))
        event.full_clean()
        event.save()
        if "capacity" in diff:
            _promote_waitlisted(event)
            _refresh_capacity_warning(event)
        live.changed_on_commit(event_id=event.pk)
        return event


def _record_update(event: Event, diff: dict, *, actor_id: int | None) -> None:
    """Send now (window closed) or merge into the open window. Mutates, does not save."""
    diff = {field: change for field, change in diff.items() if field in ANNOUNCED_FIELDS}
    if not diff:
        return  # e.g. a capacity change: nothing to announce, no window to open
    now = timezone.now()
    pending = event.pending_changes or {}
    fields = _merge_changes(pending.get("fields", {}), diff)
    actors = sorted(set(pending.get("actors", [])) | ({actor_id} if actor_id else set()))
    window_open = event.update_window_ends_at is not None and now < event.update_window_ends_at
    if not window_open:
        _send_update(event, fields, actors)
        event.pending_changes = {}
        event.update_window_ends_at = now + collapse_window()
        return
    had_pending = bool(pending.get("fields"))
    event.pending_changes = {"fields": fields, "actors": actors} if fields else {}
    if fields and not had_pending:
        event_id, window_ends_at = event.pk, event.update_window_ends_at
        transaction.on_commit(
            partial(
                enqueue, "events.flush_event_update", [event_id, window_ends_at.isoformat()],
                eta=window_ends_at,
            )
        )


def event_update_flush(*, event_id: int, window_ends_at: datetime | None = None) -> int:
    """Send the changes merged during a collapse window as one update. Idempotent.

    ``window_ends_at`` names the window the caller was scheduled for; a later window is left to
    its own task. Returns the number of notifications created.
    """
    with transaction.atomic():
        event = Event.objects.select_for_update().filter(pk=event_id).first()
        if event is None or not (event.pending_changes or {}).get("fields"):
            return 0
        if window_ends_at is not None and event.update_window_ends_at != window_ends_at:
            return 0
        if event.status == EventStatus.CANCELLED:
            event.pending_changes = {}
            event.save(update_fields=["pending_changes"])
            return 0
        pending = event.pending_changes
        created = _send_update(event, pending["fields"], pending.get("actors", []))
        event.pending_changes = {}
        event.update_window_ends_at = timezone.now() + collapse_window()
        event.save(update_fields=["pending_changes", "update_window_ends_at", "updates_sent"])
        return created


def event_updates_flush_overdue(*, now: datetime | None = None) -> int:
    """Flush windows whose task never ran (lost with a worker); called by the minute beat."""
    now = now or timezone.now()
    grace = timedelta(seconds=30)
    overdue = Event.objects.filter(
        update_window_ends_at__lt=now - grace, pending_changes__has_key="fields"
    ).values_list("pk", flat=True)
    return sum(event_update_flush(event_id=event_id) for event_id in overdue)


def event_cancel(*, event: Event, actor) -> Event:
    """Cancel the event and tell everyone registered, waitlisted or following, urgently.

    Idempotent: cancelling a cancelled event changes and sends nothing.
    """
    with transaction.atomic():
        event = _lock(event.pk)
        if event.status == EventStatus.CANCELLED:
            return event
        event.status = EventStatus.CANCELLED
        event.pending_changes = {}
        event.save(update_fields=["status", "pending_changes", "updated_at"])
        User = get_user_model()
        recipients = User.objects.filter(
            Q(pk__in=_registrant_ids(event))
            | Q(pk__in=_follower_ids(event, kinds.EVENT_CANCELLED))
        ).exclude(pk=getattr(actor, "pk", None))
        notify(
            kind=kinds.EVENT_CANCELLED,
            recipients=recipients,
            subject=event,
            context=_event_context(event),
            dedupe_key=f"event:{event.pk}:cancelled",
            priority="urgent",
            url=event.get_absolute_url(),
        )
        live.changed_on_commit(event_id=event.pk)
        return event


# ---------------------------------------------------------------------------------------------
# Registrations


def registration_create(*, user, event: Event) -> Registration:
    """Register ``user``: a confirmed place while there is one, else the end of the waiting list.

    Safe under concurrency (the event row is locked while places are counted). Idempotent: an
    active registration is returned unchanged and nothing is sent again. Subscribes the user to
    the event's updates. Raises ``RegistrationClosed`` for a cancelled or started event.
    """
    with transaction.atomic():
        event = _lock(event.pk)
        if event.status == EventStatus.CANCELLED:
            raise RegistrationClosed("This event was cancelled.")
        if event.starts_at <= timezone.now():
            raise RegistrationClosed("This event has already started.")
        registration = Registration.objects.filter(user=user, event=event).first()
        if registration and registration.status in ACTIVE_STATUSES:
            return registration
        has_place = _confirmed_count(event) < event.capacity
        status = RegistrationStatus.CONFIRMED if has_place else RegistrationStatus.WAITLISTED
        now = timezone.now()
        if registration is None:
            registration = Registration(user=user, event=event, created_at=now)
        registration.status = status
        registration.joined_at = now
        registration.save()
        registration.event = event
        if status == RegistrationStatus.CONFIRMED:
            _notify_registration(registration, kinds.REGISTRATION_CONFIRMED, "confirmed")
            _refresh_capacity_warning(event)
        else:
            _notify_registration(registration, kinds.WAITLIST_JOINED, "waitlisted")
        if not subscribers(topic=topic_for(event)).filter(pk=user.pk).exists():
            subscription_follow(
                user=user, topic=topic_for(event), kinds=REGISTRATION_SUBSCRIPTION_KINDS
            )
        live.changed_on_commit(event_id=event.pk)
        return registration


def registration_cancel(*, user, event: Event) -> Registration | None:
    """``user`` leaves the event (or its waiting list); a freed place goes to the next in line.

    Also stops the automatic follow made by registering (not one the user chose on the page).

    Idempotent: returns None when the user had no active registration.
    """
    with transaction.atomic():
        event = _lock(event.pk)
        registration = Registration.objects.filter(
            user=user, event=event, status__in=ACTIVE_STATUSES
        ).first()
        if registration is None:
            return None
        was_confirmed = registration.status == RegistrationStatus.CONFIRMED
        registration.status = RegistrationStatus.CANCELLED
        registration.save(update_fields=["status", "updated_at"])
        # Undo the follow that registering made; a follow the user chose themselves stays.
        automatic = sorted(REGISTRATION_SUBSCRIPTION_KINDS)
        if subscriptions_of(user=user).filter(topic=topic_for(event), kinds=automatic).exists():
            subscription_unfollow(user=user, topic=topic_for(event))
        if was_confirmed:
            _promote_waitlisted(event)
            _refresh_capacity_warning(event)
        live.changed_on_commit(event_id=event.pk)
        return registration


# ---------------------------------------------------------------------------------------------
# Following


def event_follow(*, user, event: Event) -> None:
    """Follow every notification about the event. Idempotent."""
    subscription_follow(user=user, topic=topic_for(event), kinds=None)


def event_unfollow(*, user, event: Event) -> bool:
    """Stop following the event (registration and reminders are unaffected). Idempotent."""
    return subscription_unfollow(user=user, topic=topic_for(event))


# ---------------------------------------------------------------------------------------------
# Reminders


def _reminder_window(which: str, now: datetime) -> tuple[datetime, datetime]:
    """Starts (exclusive, inclusive] for which ``which`` is due now; a day-before reminder is
    skipped once the hour-before one is due, so nobody gets both at once."""
    upper = now + REMINDER_LEADS[which]
    lower = now
    if which == ReminderWhich.DAY_BEFORE:
        lower = now + REMINDER_LEADS[ReminderWhich.HOUR_BEFORE]
    return lower, upper


def _unreminded(which: str) -> QuerySet:
    """Confirmed registrations of scheduled events without this reminder for the current start.

    The day-before reminder is for people who joined before that day began: someone who
    registers (or is promoted from a place they queued for) inside it just gets the hour one.
    """
    already = ReminderSent.objects.filter(
        registration=OuterRef("pk"), which=which, starts_at=OuterRef("event__starts_at")
    )
    due = Registration.objects.filter(
        status=RegistrationStatus.CONFIRMED, event__status=EventStatus.SCHEDULED
    ).filter(~Exists(already))
    if which == ReminderWhich.DAY_BEFORE:
        due = due.filter(joined_at__lte=F("event__starts_at") - REMINDER_LEADS[which])
    return due


def reminders_send_due(*, now: datetime | None = None) -> int:
    """Send every due 24-hour and 1-hour reminder; returns how many registrations were reminded.

    Exactly once per (registration, reminder, start time): each event is handled in its own
    transaction under its row lock, a concurrent run skips events another run holds, and the
    ReminderSent rows commit together with the notifications (a crash mid-batch rolls back both,
    and the next run picks them up).
    """
    now = now or timezone.now()
    sent = 0
    for which in REMINDER_LEADS:
        lower, upper = _reminder_window(which, now)
        event_ids = (
            _unreminded(which)
            .filter(event__starts_at__gt=lower, event__starts_at__lte=upper)
            .order_by()  # the default ordering would make DISTINCT one row per registration
            .values_list("event_id", flat=True)
            .distinct()
        )
        for event_id in list(event_ids):
            sent += _send_event_reminders(event_id=event_id, which=which, now=now)
    return sent


def _send_event_reminders(*, event_id: int, which: str, now: datetime) -> int:
    with transaction.atomic():
        event = Event.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None:
            return 0  # another run holds it and will send these
        lower, upper = _reminder_window(which, now)
        if event.status != EventStatus.SCHEDULED or not lower < event.starts_at <= upper:
            return 0
        due = list(_unreminded(which).filter(event=event).values_list("pk", "user_id"))
        if not due:
            return 0
        ReminderSent.objects.bulk_create(
            [
                ReminderSent(
                    registration_id=pk, which=which, starts_at=event.starts_at, sent_at=now
                )
                for pk, _ in due
            ],
            ignore_conflicts=True,
        )
        notify(
            kind=kinds.EVENT_REMINDER,
            recipients=[user_id for _, user_id in due],
            subject=event,
            context={
                **_event_context(event),
                "which": which,
                # timeuntil joins with a no-break space, which SMS and plain text mangle.
                "starts_in": f"in {timeuntil(event.starts_at, now, depth=1)}".replace("\xa0", " "),
            },
            dedupe_key=f"event:{event.pk}:reminder:{which}:{int(event.starts_at.timestamp())}",
            url=event.get_absolute_url(),
        )
        return len(due)
