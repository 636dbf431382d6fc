"""The admin changes events through the services: same validation, same people notified."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from events import services
from events.models import Event, EventStatus
from notifications.models import Notification
from tests.events.factories import UserFactory
from tests.events.helpers import recipients_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def audience(event, make_users):
    """alice confirmed, bob waitlisted, carol following, dave unrelated."""
    Event.objects.filter(pk=event.pk).update(capacity=1)
    alice, bob, carol, _ = make_users("alice", "bob", "carol", "dave")
    services.registration_create(user=alice, event=event)
    services.registration_create(user=bob, event=event)
    services.event_follow(user=carol, event=event)


def admin_form(event: Event, **overrides) -> dict:
    def split(moment):
        local = timezone.localtime(moment)
        return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")

    fresh = Event.objects.get(pk=event.pk)
    values = {field: getattr(fresh, field) for field in services.EDITABLE_FIELDS}
    values.update(overrides)
    data = {
        "title": values["title"],
        "description": values["description"],
        "location": values["location"],
        "capacity": str(values["capacity"]),
        "registrations-TOTAL_FORMS": "0",
        "registrations-INITIAL_FORMS": "0",
        "registrations-MIN_NUM_FORMS": "0",
        "registrations-MAX_NUM_FORMS": "1000",
    }
    for field in ("starts_at", "ends_at"):
        data[f"{field}_0"], data[f"{field}_1"] = split(values[field])
    return data


def test_an_admin_edit_notifies_the_same_people_as_a_page_edit(
    event, organizer, audience, admin_client, settings, django_capture_on_commit_callbacks
):
    settings.EVENT_UPDATE_COLLAPSE_SECONDS = 0
    organizer_client = Client()
    organizer_client.force_login(organizer)
    page_data = {
        "title": event.title, "description": event.description, "location": "Room B",
        "capacity": "1",
        "starts_at": timezone.localtime(event.starts_at).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": timezone.localtime(event.ends_at).strftime("%Y-%m-%dT%H:%M"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert organizer_client.post(f"/events/{event.pk}/edit/", page_data).status_code == 302
    page_recipients = recipients_of("event_updated", dedupe_key=f"event:{event.pk}:updated:1")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/events/event/{event.pk}/change/", admin_form(event, location="Hall C")
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    admin_recipients = recipients_of("event_updated", dedupe_key=f"event:{event.pk}:updated:2")

    assert page_recipients == admin_recipients == {"alice", "bob", "carol"}
    assert Event.objects.get(pk=event.pk).location == "Hall C"
    latest = Notification.objects.filter(kind="event_updated").latest("id")
    assert latest.data["summary"] == "Place: Room B → Hall C"


def test_the_admin_form_refuses_capacity_below_the_confirmed_count(
    event, organizer, audience, admin_client
):
    services.event_update(event=event, actor=organizer, changes={"capacity": 2})  # bob promoted
    response = admin_client.post(
        f"/admin/events/event/{event.pk}/change/", admin_form(event, capacity=1)
    )
    assert response.status_code == 200  # the admin re-renders the form with the error
    assert "2 people are already confirmed" in response.content.decode()
    assert Event.objects.get(pk=event.pk).capacity == 2


def test_adding_an_event_in_the_admin_goes_through_the_service(admin_client, organizer):
    local_start = timezone.localtime(timezone.now() + timedelta(days=2))
    data = {
        "title": "Admin event", "description": "", "location": "Lobby", "capacity": "5",
        "organizer": str(organizer.pk),
        "starts_at_0": local_start.strftime("%Y-%m-%d"), "starts_at_1": "10:00:00",
        "ends_at_0": local_start.strftime("%Y-%m-%d"), "ends_at_1": "09:00:00",
        "registrations-TOTAL_FORMS": "0", "registrations-INITIAL_FORMS": "0",
        "registrations-MIN_NUM_FORMS": "0", "registrations-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post("/admin/events/event/add/", data)
    assert "The event must end after it starts." in response.content.decode()
    data["ends_at_1"] = "12:00:00"
    assert admin_client.post("/admin/events/event/add/", data).status_code == 302
    assert Event.objects.get(title="Admin event").organizer == organizer


def test_the_cancel_admin_action_notifies_like_the_page(
    event, audience, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/events/event/",
            {"action": "cancel_events", "_selected_action": [str(event.pk)]},
        )
    assert response.status_code == 302
    assert Event.objects.get(pk=event.pk).status == EventStatus.CANCELLED
    assert recipients_of("event_cancelled", priority="urgent") == {"alice", "bob", "carol"}


def test_event_admin_lists_filters_and_shows_registrations_inline(event, audience, admin_client):
    listing = admin_client.get("/admin/events/event/?status__exact=scheduled")
    assert listing.status_code == 200 and event.title in listing.content.decode()
    assert event.title not in admin_client.get(
        "/admin/events/event/?status__exact=cancelled"
    ).content.decode().split("result_list")[-1]
    change = admin_client.get(f"/admin/events/event/{event.pk}/change/").content.decode()
    assert "alice" in change and "On the waiting list" in change


def test_staff_without_the_change_permission_cannot_edit_in_the_admin(event):
    staff = UserFactory(username="helpdesk", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_event"))
    client = Client()
    client.force_login(staff)
    response = client.post(f"/admin/events/event/{event.pk}/change/", admin_form(event, title="X"))
    assert response.status_code == 403
    assert Event.objects.get(pk=event.pk).title == "Django meetup"


def test_events_cannot_be_deleted_in_the_admin_only_cancelled(event, admin_client):
    response = admin_client.post(f"/admin/events/event/{event.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Event.objects.filter(pk=event.pk).exists()
