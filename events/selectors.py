"""Reads of the events app: what the pages, the admin and the tasks show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from events.models import ACTIVE_STATUSES, Event, EventStatus, Registration, RegistrationStatus
from notifications.models import topic_for
from notifications.selectors import subscribers


def events_with_counts(queryset: QuerySet[Event]) -> QuerySet[Event]:
    """Annotate ``confirmed_count``, ``waitlisted_count`` and ``places_left`` in one query."""
    confirmed = Count(
        "registrations", filter=Q(registrations__status=RegistrationStatus.CONFIRMED)
    )
    return queryset.annotate(
        confirmed_count=confirmed,
        waitlisted_count=Count(
            "registrations", filter=Q(registrations__status=RegistrationStatus.WAITLISTED)
        ),
        places_left=Greatest(F("capacity") - confirmed, Value(0)),
    )


def event_list_upcoming(*, now: datetime | None = None) -> QuerySet[Event]:
    """Events not yet over, soonest first, with ``confirmed_count`` and ``waitlisted_count``."""
    now = now or timezone.now()
    return events_with_counts(
        Event.objects.filter(ends_at__gt=now).select_related("organizer")
    ).order_by("starts_at", "pk")


def event_list_past(*, now: datetime | None = None) -> QuerySet[Event]:
    """Events that have ended, most recent first, with the same counts."""
    now = now or timezone.now()
    return events_with_counts(
        Event.objects.filter(ends_at__lte=now).select_related("organizer")
    ).order_by("-starts_at", "-pk")


def event_get(*, event_id: int) -> Event:
    """One event with its counts; raises ``Event.DoesNotExist``."""
    return events_with_counts(Event.objects.select_related("organizer")).get(pk=event_id)


def event_confirmed_count(*, event: Event) -> int:
    return Registration.objects.filter(event=event, status=RegistrationStatus.CONFIRMED).count()


def event_can_manage(*, user, event: Event) -> bool:
    """The organizer, or staff holding the change permission, may edit and cancel an event."""
    if not user.is_authenticated:
        return False
    if event.organizer_id == user.pk:
        return True
    return user.is_staff and user.has_perm("events.change_event")


def event_can_create(*, user) -> bool:
    return user.is_authenticated and user.has_perm("events.add_event")


def registration_of(*, user, event: Event) -> Registration | None:
    if not user.is_authenticated:
        return None
    return Registration.objects.filter(user=user, event=event).first()


def waitlist_position(*, registration: Registration) -> int | None:
    """1-based place in the waiting list, or None when not waitlisted."""
    if registration.status != RegistrationStatus.WAITLISTED:
        return None
    ahead = Registration.objects.filter(
        event_id=registration.event_id, status=RegistrationStatus.WAITLISTED
    ).filter(
        Q(joined_at__lt=registration.joined_at)
        | Q(joined_at=registration.joined_at, pk__lt=registration.pk)
    )
    return ahead.count() + 1


def event_waitlist(*, event: Event) -> QuerySet[Registration]:
    return Registration.objects.filter(
        event=event, status=RegistrationStatus.WAITLISTED
    ).order_by("joined_at", "pk")


def event_attendees(*, event: Event) -> QuerySet[Registration]:
    """Active registrations, confirmed first then the waiting list in order."""
    return (
        Registration.objects.filter(event=event, status__in=ACTIVE_STATUSES)
        .select_related("user")
        .order_by("status", "joined_at", "pk")  # "confirmed" sorts before "waitlisted"
    )


def user_follows_event(*, user, event: Event) -> bool:
    if not user.is_authenticated:
        return False
    return subscribers(topic=topic_for(event)).filter(pk=user.pk).exists()


@dataclass(frozen=True)
class EventPanel:
    """What the action panel of an event page shows to one viewer."""

    event: Event
    registration: Registration | None
    position: int | None
    following: bool
    can_manage: bool
    places_left: int

    @property
    def is_open(self) -> bool:
        return self.event.status == EventStatus.SCHEDULED and self.event.starts_at > timezone.now()

    @property
    def is_active(self) -> bool:
        return self.registration is not None and self.registration.status in ACTIVE_STATUSES


def event_panel(*, user, event: Event) -> EventPanel:
    """``event`` must come from ``event_get`` (it carries the counts)."""
    registration = registration_of(user=user, event=event)
    return EventPanel(
        event=event,
        registration=registration,
        position=waitlist_position(registration=registration) if registration else None,
        following=user_follows_event(user=user, event=event),
        can_manage=event_can_manage(user=user, event=event),
        places_left=event.places_left,
    )


def event_page(
    *,
    upcoming: bool,
    after: tuple[datetime, int] | None = None,
    limit: int,
    now: datetime | None = None,
) -> list[Event]:
    """One page of upcoming events (soonest first) or past ones (latest first), with counts.

    Keyset on (starts_at, id): ``after`` is the last row of the previous page, so a page costs
    the same wherever it starts.
    """
    rows = event_list_upcoming(now=now) if upcoming else event_list_past(now=now)
    if after is not None:
        starts_at, pk = after
        if upcoming:
            rows = rows.filter(Q(starts_at__gt=starts_at) | Q(starts_at=starts_at, pk__gt=pk))
        else:
            rows = rows.filter(Q(starts_at__lt=starts_at) | Q(starts_at=starts_at, pk__lt=pk))
    return list(rows[:limit])
