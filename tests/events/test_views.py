from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from events import services
from events.models import Event, EventStatus, Registration, RegistrationStatus
from tests.events.factories import EventFactory, UserFactory
from tests.events.helpers import recipients_of

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def local_input(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def form_data(**overrides):
    start = timezone.now() + timedelta(days=5)
    data = {
        "title": "Release party",
        "description": "Cake.",
        "location": "Roof",
        "starts_at": local_input(start),
        "ends_at": local_input(start + timedelta(hours=3)),
        "capacity": "30",
    }
    data.update(overrides)
    return data


@pytest.fixture
def alice_client(make_users):
    (alice,) = make_users("alice")
    client = Client()
    client.force_login(alice)
    return alice, client


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Lists ------------------------------------------------------------------------------------


def test_list_shows_upcoming_events_soonest_first_without_past_ones(client, organizer):
    in_nine_days = timezone.now() + timedelta(days=9)
    later = EventFactory(organizer=organizer, title="Later", starts_at=in_nine_days,
                         ends_at=in_nine_days + timedelta(hours=1))
    sooner = EventFactory(organizer=organizer, title="Sooner")
    past_start = timezone.now() - timedelta(days=2)
    EventFactory(organizer=organizer, title="Long gone", starts_at=past_start,
                 ends_at=past_start + timedelta(hours=1))
    html = client.get("/events/").content.decode()
    assert html.index(sooner.title) < html.index(later.title)
    assert "Long gone" not in html
    assert "10 of 10 places left" in html


def test_past_events_are_listed_separately_latest_first(client, organizer):
    for days, title in ((5, "Older"), (2, "Recent")):
        start = timezone.now() - timedelta(days=days)
        EventFactory(organizer=organizer, title=title, starts_at=start,
                     ends_at=start + timedelta(hours=1))
    EventFactory(organizer=organizer, title="Tomorrow-ish")
    html = client.get("/events/?when=past").content.decode()
    assert "Past events" in html and "Tomorrow-ish" not in html
    assert html.index("Recent") < html.index("Older")


def test_list_is_paginated(client, organizer):
    EventFactory.create_batch(25, organizer=organizer)
    first = client.get("/events/")
    second = client.get("/events/?page=2")
    assert len(first.context["page"].object_list) == 20
    assert len(second.context["page"].object_list) == 5
    assert "Page 2 of 2" in second.content.decode()


def test_list_query_count_does_not_grow_with_events(client, organizer, make_users,
                                                     django_assert_num_queries):
    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get("/events/").status_code == 200
        return len(queries)

    event = EventFactory(organizer=organizer)
    services.registration_create(user=make_users("alice")[0], event=event)
    few = count_queries()
    EventFactory.create_batch(15, organizer=organizer)
    with django_assert_num_queries(few):
        client.get("/events/")


def test_home_shows_upcoming_events_to_anonymous_visitors(client, event):
    response = client.get("/")
    assert response.status_code == 200
    assert event.title in response.content.decode()


# --- Detail and the action panel --------------------------------------------------------------


def test_detail_shows_places_left_and_a_login_link_to_anonymous_visitors(client, event):
    html = client.get(f"/events/{event.pk}/").content.decode()
    assert "10</strong> places left" in html
    assert "Log in to register" in html


def test_detail_of_a_missing_event_is_404(client):
    assert client.get("/events/999999/").status_code == 404


def test_register_by_plain_post_redirects_back_with_a_message(alice_client, event):
    alice, client = alice_client
    response = client.post(f"/events/{event.pk}/register/")
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/"
    assert Registration.objects.get(user=alice).status == RegistrationStatus.CONFIRMED
    page = client.get(response["Location"]).content.decode()
    assert "your place is confirmed" in page
    assert "Leave event" in page


def test_register_by_htmx_returns_only_the_action_panel(alice_client, event):
    alice, client = alice_client
    response = client.post(f"/events/{event.pk}/register/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<aside id="event-actions"')
    assert "<html" not in html
    assert "your place is confirmed" in html and "9</strong> places left" in html
    assert '<dd id="event-places" hx-swap-oob="true">1 of 10 taken</dd>' in html


def test_joining_a_full_event_says_the_waiting_list_position(alice_client, organizer, make_users):
    event = EventFactory(organizer=organizer, capacity=1)
    services.registration_create(user=make_users("bob")[0], event=event)
    _, client = alice_client
    html = client.post(f"/events/{event.pk}/register/", **HTMX).content.decode()
    assert "number 1 on the waiting list" in html
    assert "Leave waiting list" in html


def test_leave_by_htmx_frees_the_place(alice_client, event):
    alice, client = alice_client
    services.registration_create(user=alice, event=event)
    html = client.post(f"/events/{event.pk}/leave/", **HTMX).content.decode()
    assert "You left this event." in html
    assert Registration.objects.get(user=alice).status == RegistrationStatus.CANCELLED


def test_follow_and_unfollow_toggle_the_panel(alice_client, event):
    _, client = alice_client
    html = client.post(f"/events/{event.pk}/follow/", **HTMX).content.decode()
    assert "Following updates" in html
    html = client.post(f"/events/{event.pk}/unfollow/", **HTMX).content.decode()
    assert "Follow for updates" in html


def test_registering_for_a_cancelled_event_is_a_400_with_the_reason(alice_client, event, organizer):
    alice, client = alice_client
    services.event_cancel(event=event, actor=organizer)
    response = client.post(f"/events/{event.pk}/register/")
    assert response.status_code == 400
    assert "This event was cancelled." in response.content.decode()
    assert not Registration.objects.filter(user=alice).exists()


@pytest.mark.parametrize("action", ["register", "leave", "follow", "unfollow"])
def test_actions_need_login_and_post(client, alice_client, event, action):
    response = client.post(f"/events/{event.pk}/{action}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    _, logged = alice_client
    assert logged.get(f"/events/{event.pk}/{action}/").status_code == 405
    assert not Registration.objects.exists()


def test_actions_without_a_csrf_token_are_refused(make_users, event):
    (alice,) = make_users("alice")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/events/{event.pk}/register/").status_code == 403
    assert not Registration.objects.exists()


# --- Create, edit, cancel ---------------------------------------------------------------------


def test_organizers_create_events(organizer):
    response = logged_in(organizer).post("/events/new/", form_data())
    event = Event.objects.get(title="Release party")
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/"
    assert event.organizer == organizer and event.capacity == 30


def test_people_outside_the_organizers_group_cannot_create(alice_client):
    _, client = alice_client
    assert client.get("/events/new/").status_code == 403
    assert client.post("/events/new/", form_data()).status_code == 403
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ends_at": "start"}, "The event must end after it starts."),
        ({"starts_at": "past"}, "The start must be in the future."),
        ({"capacity": "0"}, "An event needs at least one place."),
        ({"title": ""}, "This field is required."),
    ],
)
def test_create_form_explains_what_is_wrong(organizer, overrides, message):
    data = form_data()
    if overrides.get("ends_at") == "start":
        data["ends_at"] = data["starts_at"]
    elif overrides.get("starts_at") == "past":
        data["starts_at"] = local_input(timezone.now() - timedelta(days=1))
    else:
        data.update(overrides)
    response = logged_in(organizer).post("/events/new/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Event.objects.exists()


def test_organizer_edit_saves_and_notifies_registrants(
    event, organizer, make_users, django_capture_on_commit_callbacks
):
    (alice,) = make_users("alice")
    services.registration_create(user=alice, event=event)
    data = form_data(title=event.title, description=event.description, location="Room B",
                     starts_at=local_input(event.starts_at), ends_at=local_input(event.ends_at),
                     capacity="10")
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(organizer).post(f"/events/{event.pk}/edit/", data)
    assert response.status_code == 302
    assert Event.objects.get(pk=event.pk).location == "Room B"
    assert recipients_of("event_updated") == {"alice"}


def test_edit_refuses_capacity_below_the_confirmed_count(event, organizer, make_users):
    for user in make_users("alice", "bob"):
        services.registration_create(user=user, event=event)
    data = form_data(title=event.title, location=event.location,
                     starts_at=local_input(event.starts_at), ends_at=local_input(event.ends_at),
                     capacity="1")
    response = logged_in(organizer).post(f"/events/{event.pk}/edit/", data)
    assert response.status_code == 400
    assert "2 people are already confirmed: the capacity cannot go below 2." in (
        response.content.decode()
    )
    assert Event.objects.get(pk=event.pk).capacity == 10


def test_someone_else_cannot_edit_or_cancel_and_nothing_changes(alice_client, event, organizer):
    alice, client = alice_client
    alice.user_permissions.add(Permission.objects.get(codename="add_event"))  # an organizer too
    assert client.get(f"/events/{event.pk}/edit/").status_code == 403
    assert client.post(f"/events/{event.pk}/edit/", form_data()).status_code == 403
    assert client.post(f"/events/{event.pk}/cancel/").status_code == 403
    fresh = Event.objects.get(pk=event.pk)
    assert (fresh.title, fresh.status) == ("Django meetup", EventStatus.SCHEDULED)
    page = client.get(f"/events/{event.pk}/").content.decode()
    assert f"/events/{event.pk}/edit/" not in page and "Cancel event" not in page
    organizer_page = logged_in(organizer).get(f"/events/{event.pk}/").content.decode()
    assert f"/events/{event.pk}/edit/" in organizer_page


def test_staff_with_the_change_permission_may_edit(event):
    staff = UserFactory(username="staffer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_event"))
    assert logged_in(staff).get(f"/events/{event.pk}/edit/").status_code == 200
    plain_staff = UserFactory(username="helpdesk", is_staff=True)
    assert logged_in(plain_staff).get(f"/events/{event.pk}/edit/").status_code == 403


def test_organizer_cancels_after_confirming(event, organizer, make_users,
                                            django_capture_on_commit_callbacks):
    (alice,) = make_users("alice")
    services.registration_create(user=alice, event=event)
    client = logged_in(organizer)
    assert "cannot be undone" in client.get(f"/events/{event.pk}/cancel/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/events/{event.pk}/cancel/")
    assert response.status_code == 302
    assert Event.objects.get(pk=event.pk).status == EventStatus.CANCELLED
    assert recipients_of("event_cancelled", priority="urgent") == {"alice"}
    assert "This event was cancelled." in client.get(f"/events/{event.pk}/").content.decode()


def test_saving_the_edit_form_unchanged_announces_nothing(
    organizer, make_users, django_capture_on_commit_callbacks
):
    start = timezone.now() + timedelta(days=2, seconds=37)
    event = services.event_create(organizer=organizer, title="Standup", location="Room A",
                                  starts_at=start, ends_at=start + timedelta(hours=1), capacity=5)
    services.registration_create(user=make_users("alice")[0], event=event)
    client = logged_in(organizer)
    form = client.get(f"/events/{event.pk}/edit/").context["form"]
    data = {name: form[name].value() for name in form.fields}
    data.update({name: local_input(getattr(event, name)) for name in ("starts_at", "ends_at")})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/events/{event.pk}/edit/", data).status_code == 302
    assert recipients_of("event_updated") == set()


def test_leave_only_ever_touches_the_logged_in_users_registration(alice_client, event, make_users):
    alice, client = alice_client
    (bob,) = make_users("bob")
    services.registration_create(user=bob, event=event)
    response = client.post(f"/events/{event.pk}/leave/", {"user": bob.pk, "user_id": bob.pk})
    assert response.status_code == 302
    assert Registration.objects.get(user=bob).status == RegistrationStatus.CONFIRMED


# --- Registrations on the organizer's page ----------------------------------------------------


def register_many(event, count: int) -> None:
    """``count`` new users registered through the service (past capacity: the waiting list)."""
    for user in UserFactory.create_batch(count):
        services.registration_create(user=user, event=event)


def organizer_page_queries(client, event) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/events/{event.pk}/").status_code == 200
    return len(queries)


def test_organizer_page_lists_the_first_registrations_and_says_how_many_more(event, organizer):
    from events.live import ATTENDEES_ON_PAGE

    register_many(event, ATTENDEES_ON_PAGE + 7)
    response = logged_in(organizer).get(f"/events/{event.pk}/")
    content = response.content.decode()
    assert len(response.context["attendees"]) == ATTENDEES_ON_PAGE
    # Confirmed places first, then the waiting list in its order.
    statuses = [registration.status for registration in response.context["attendees"]]
    assert statuses == ["confirmed"] * event.capacity + ["waitlisted"] * (ATTENDEES_ON_PAGE - event.capacity)
    assert "and 7 more" in content
    assert f'href="/events/{event.pk}/registrations/"' in content


def test_organizer_page_query_count_does_not_grow_with_registrations(
    event, organizer, django_assert_num_queries
):
    client = logged_in(organizer)
    register_many(event, 3)
    organizer_page_queries(client, event)  # The badge's counter is cached from here.
    few = organizer_page_queries(client, event)
    register_many(event, 60)
    with django_assert_num_queries(few):
        response = client.get(f"/events/{event.pk}/")
    assert "and 13 more" in response.content.decode()


def test_the_live_page_parts_list_the_same_capped_registrations(event, organizer):
    from events.live import ATTENDEES_ON_PAGE, render_page_parts

    register_many(event, ATTENDEES_ON_PAGE + 2)
    html = render_page_parts(user=organizer, event_id=event.pk)
    assert html.count("<tr><td>") == ATTENDEES_ON_PAGE
    assert "and 2 more" in html


def test_registrations_view_pages_through_everyone_with_constant_queries(
    event, organizer, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from events.views import REGISTRATIONS_PAGE_SIZE

    client = logged_in(organizer)
    url = f"/events/{event.pk}/registrations/"
    register_many(event, 3)
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        first = client.get(url)
    assert first.content.decode().count("<tr><td>") == 3
    register_many(event, REGISTRATIONS_PAGE_SIZE)
    with django_assert_num_queries(len(queries)):
        first = client.get(url)
    second = client.get(url + "?page=2")
    assert first.content.decode().count("<tr><td>") == REGISTRATIONS_PAGE_SIZE
    assert second.content.decode().count("<tr><td>") == 3
    assert "Page 2 of 2" in second.content.decode()
    listed = [r.pk for r in first.context["attendees"]] + [r.pk for r in second.context["attendees"]]
    assert sorted(listed) == sorted(
        Registration.objects.filter(event=event).values_list("pk", flat=True)
    )


def test_only_the_organizer_sees_the_registrations(client, alice_client, event):
    url = f"/events/{event.pk}/registrations/"
    _, alice = alice_client
    assert alice.get(url).status_code == 403
    assert client.get(url).status_code == 302  # Anonymous: to the login page.
    assert alice.get(f"/events/{event.pk}/").context["attendees"] is None
