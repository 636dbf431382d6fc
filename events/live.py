"""Live event pages: after a change commits, open pages swap in the parts that changed.

Two Channels groups: ``events`` (the events list: one row per event, the same for everyone,
rendered once per change) and ``event.<id>`` (that event's page: each socket renders the
event's facts and its own action panel, which depend on who is looking). Both come from the
partials the pages render, swapped by DOM id. The ``event.<id>`` message also carries the
event's ``state`` as data (place, time, status, places left), read once per change, for the
GraphQL ``eventUpdated`` subscribers, who then need no query of their own.
"""

from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string

from config.celery import enqueue
from events import selectors
from events.models import Event

LIST_GROUP = "events"
DETAIL_TEMPLATE = "events/detail.html"


def event_group(event_id: int) -> str:
    return f"event.{event_id}"


def changed_on_commit(*, event_id: int) -> None:
    """Queue the broadcast of an event's change once the caller's transaction commits."""
    transaction.on_commit(
        partial(enqueue, "events.broadcast_event_change", [event_id])
    )


def broadcast(*, event_id: int) -> bool:
    """Send an event as it is now to its open pages and to open lists. Idempotent: each frame
    carries the whole state of its parts, so a repeat or a late one is harmless."""
    try:
        event = selectors.event_get(event_id=event_id)
    except Event.DoesNotExist:
        return False
    send = async_to_sync(get_channel_layer().group_send)
    send(LIST_GROUP, {"type": "event.changed", "event_id": event_id, "row": render_row(event)})
    send(
        event_group(event_id),
        {"type": "event.changed", "event_id": event_id, "state": state_of(event)},
    )
    return True


def state_of(event: Event) -> dict:
    """What an ``eventUpdated`` frame shows (``event`` from ``event_get``, with its counts)."""
    return {
        "id": event.pk,
        "title": event.title,
        "location": event.location,
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "status": event.status,
        "capacity": event.capacity,
        "places_left": event.places_left,
    }


def current_state(event_id: int) -> dict | None:
    try:
        return state_of(selectors.event_get(event_id=event_id))
    except Event.DoesNotExist:
        return None


def render_row(event: Event) -> str:
    return render_to_string("events/_event_row.html", {"event": event, "oob": True})


# Registrations listed on the organizer's event page (and in each live re-render); the rest are
# on the paged registrations view, so a large event costs the page and its socket the same.
ATTENDEES_ON_PAGE = 50


def page_context(*, user, event: Event) -> dict:
    """What the event page shows one viewer, page and socket alike (``event`` from
    ``event_get``, whose counts say how many registrations are not listed)."""
    panel = selectors.event_panel(user=user, event=event)
    context = {"event": event, "panel": panel, "attendees": None}
    if panel.can_manage:
        attendees = list(selectors.event_attendees(event=event)[:ATTENDEES_ON_PAGE])
        active = event.confirmed_count + event.waitlisted_count
        context.update(attendees=attendees, attendees_more=max(active - len(attendees), 0))
    return context


def render_page_parts(*, user, event_id: int, csrf_token: str = "") -> str:
    """The event's facts, its registrations (organizer only) and the viewer's action panel
    (without the notice of a click, which stays), each swapped out of band by id."""
    try:
        event = selectors.event_get(event_id=event_id)
    except Event.DoesNotExist:
        return ""
    # Rendered without a request: the viewer and the page's CSRF token come from the socket.
    context = {**page_context(user=user, event=event), "user": user, "csrf_token": csrf_token,
               "live": True}
    parts = ["event-main", "event-registrations", "event-panel"]
    return "".join(render_to_string(f"{DETAIL_TEMPLATE}#{part}", context) for part in parts)
