"""Demo events for ``make run``: reminders due within minutes, one event one seat from full.

Idempotent: events are found by title and organizer; an event whose demo moment has passed is
moved forward through ``event_update`` (which itself tells alice and bob, another demo).
"""

from datetime import timedelta

from django.utils import timezone

from events import services
from events.models import Event, EventStatus

# Minutes after `make run` at which each demo moment happens.
SOON = timedelta(minutes=3)


def _demo_events(now):
    hour, day = timedelta(hours=1), timedelta(hours=24)
    return [
        # (title, starts_at, length, capacity, location, description, attendees, note,
        #  rearm_before: moved forward on the next load once it starts sooner than this)
        ("Coffee with the team", now + hour + SOON, hour, 20, "Kitchen, 2nd floor",
         "Informal coffee. The one-hour reminder arrives a few minutes after start-up.",
         ["alice", "bob"], "1-hour reminder to alice and bob", hour),
        ("Board games night", now + day + SOON, 3 * hour, 12, "Lounge",
         "Bring a game. The 24-hour reminder arrives a few minutes after start-up.",
         ["alice", "bob"], "24-hour reminder to alice and bob", day),
        ("Django Channels workshop", now + 3 * day, 2 * hour, 3, "Room Ada",
         "Hands-on WebSockets. One place left: when one more person registers it is full "
         "(capacity warning to the organizer); after that, newcomers join the waiting list.",
         ["alice", "bob"], "2 of 3 places taken: register as admin to fill it", day),
    ]


def load(*, users: dict) -> list[str]:
    now = timezone.now()
    organizer = users["organizer"]
    organizer.groups.add(services.organizers_group())
    notes = []
    for (title, starts_at, length, capacity, location, description, attendees, note,
         rearm_before) in _demo_events(now):
        event = Event.objects.filter(title=title, organizer=organizer).first()
        if event is None:
            event = services.event_create(
                organizer=organizer, title=title, description=description, location=location,
                starts_at=starts_at, ends_at=starts_at + length, capacity=capacity,
            )
        elif event.status == EventStatus.SCHEDULED and event.starts_at < now + rearm_before:
            # Its demo moment passed since the last start: move it so it happens again.
            event = services.event_update(
                event=event, actor=organizer,
                changes={"starts_at": starts_at, "ends_at": starts_at + length},
            )
        for username in attendees:
            if event.status == EventStatus.SCHEDULED:
                services.registration_create(user=users[username], event=event)
        notes.append(f"event “{title}” (/events/{event.pk}/): {note}")
    return notes
