"""The notification center's HTTP side: every action with HTMX and without, 404s, CSRF, queries."""

import re

import pytest
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, reverse_lazy

from notifications.models import Notification, Preference, QuietHours, Subscription
from notifications import services
from notifications.services import subscription_follow
from tests.ui.factories import UserFactory
from tests.ui.helpers import send, send_many

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def bob():
    return UserFactory(username="bob")


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def queries_made(request) -> int:
    """Queries one request makes (the log is emptied first: each request start resets it)."""
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        request()
    return len(captured)


def row_ids(response) -> list[int]:
    return [row.pk for row in response.context["notifications"]]


# --- Center page ------------------------------------------------------------------------------


def test_center_lists_only_my_notifications_newest_first(alice, bob, alice_client):
    older, newer = send(alice, title="First"), send(alice, title="Second")
    send(bob, title="Not for Alice")
    response = alice_client.get(reverse("notifications:center"))
    assert response.status_code == 200
    assert row_ids(response) == [newer.pk, older.pk]
    assert b"Not for Alice" not in response.content
    assert f'id="center-notification-{newer.pk}"'.encode() in response.content


def writes_made(request) -> list[str]:
    """The INSERT, UPDATE and DELETE statements one request runs."""
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        request()
    return [
        query["sql"] for query in captured.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


SEEN_BEACON = re.compile(r'class="seen-beacon" data-seen-ids="([\d,]+)" hx-post="([^"]+)"')


def seen_beacon(response) -> tuple[str, list[int]] | None:
    """The beacon a page renders for its unseen rows: (the URL it posts to, the ids it names)."""
    match = SEEN_BEACON.search(response.content.decode())
    if match is None:
        return None
    return match.group(2), [int(pk) for pk in match.group(1).split(",")]


def unseen_ids(user) -> set[int]:
    return set(Notification.objects.filter(recipient=user, seen_at=None).values_list("pk", flat=True))


@pytest.mark.parametrize(
    "url, headers",
    [
        (reverse_lazy("notifications:center"), {}),
        (reverse_lazy("notifications:center"), {**HTMX, "HTTP_HX_TARGET": "notification-list"}),
        (reverse_lazy("notifications:dropdown"), HTMX),
    ],
    ids=["center", "center-list", "dropdown"],
)
def test_showing_notifications_writes_nothing_and_the_beacon_records_them_seen(
    url, headers, alice, alice_client
):
    shown = {n.pk for n in send_many(alice, 3)}
    responses = []
    assert writes_made(lambda: responses.append(alice_client.get(url, **headers))) == []
    assert unseen_ids(alice) == shown

    beacon_url, ids = seen_beacon(responses[0])
    assert beacon_url == reverse("notifications:record_seen") and set(ids) == shown
    response = alice_client.post(beacon_url, {"ids": ",".join(map(str, ids))}, **HTMX)
    assert response.status_code == 204
    assert unseen_ids(alice) == set()
    first_seen = dict(Notification.objects.values_list("pk", "seen_at"))

    # Shown again: nothing left to record, and a repeated beacon keeps the first time.
    assert seen_beacon(alice_client.get(url, **headers)) is None
    alice_client.post(beacon_url, {"ids": ",".join(map(str, ids))}, **HTMX)
    assert dict(Notification.objects.values_list("pk", "seen_at")) == first_seen


def test_load_more_writes_nothing_and_names_only_its_own_rows(alice, alice_client):
    sent = send_many(alice, 25)
    first = alice_client.get(reverse("notifications:center"))
    responses = []
    older = reverse("notifications:center") + f"?before={row_ids(first)[-1]}"
    assert writes_made(lambda: responses.append(alice_client.get(older, **HTMX))) == []
    _, ids = seen_beacon(responses[0])
    assert sorted(ids) == sorted(n.pk for n in sent[:5])
    assert '<li hidden class="seen-beacon"' in responses[0].content.decode()  # Fits the <ol>.


def test_the_seen_beacon_records_only_the_callers_rows(alice, bob, alice_client):
    mine, theirs = send(alice), send(bob)
    response = alice_client.post(
        reverse("notifications:record_seen"), {"ids": f"{mine.pk},{theirs.pk}"}, **HTMX
    )
    assert response.status_code == 204
    assert unseen_ids(alice) == set()
    assert unseen_ids(bob) == {theirs.pk}


def test_the_seen_beacon_refuses_a_post_without_csrf_token(alice):
    notification = send(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("notifications:record_seen"), {"ids": str(notification.pk)})
    assert response.status_code == 403
    assert unseen_ids(alice) == {notification.pk}

    client.get(reverse("notifications:center"))  # The page's CSRF cookie, sent as HTMX does.
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("notifications:record_seen"), {"ids": str(notification.pk)},
        HTTP_X_CSRFTOKEN=token, **HTMX,
    )
    assert response.status_code == 204
    assert unseen_ids(alice) == set()


@pytest.mark.parametrize("ids", ["", "abc", "1,,x", "0", "-3", ",".join(["1"] * 21)])
def test_the_seen_beacon_answers_a_malformed_list_with_400(ids, alice, alice_client):
    notification = send(alice)
    response = alice_client.post(reverse("notifications:record_seen"), {"ids": ids})
    assert response.status_code == 400
    assert b"comma-separated notification ids" in response.content
    assert unseen_ids(alice) == {notification.pk}


def test_the_seen_beacon_needs_login_and_post(alice, alice_client):
    notification = send(alice)
    anonymous = Client().post(reverse("notifications:record_seen"), {"ids": str(notification.pk)})
    assert anonymous.status_code == 302
    assert alice_client.get(reverse("notifications:record_seen")).status_code == 405
    assert unseen_ids(alice) == {notification.pk}


def test_center_keeps_the_same_number_of_queries_as_rows_grow(
    alice, alice_client, django_assert_num_queries
):
    send_many(alice, 2)
    alice_client.get(reverse("notifications:center"))  # The badge's counter is cached from here.
    few_rows = queries_made(lambda: alice_client.get(reverse("notifications:center")))
    send_many(alice, 30)
    alice_client.get(reverse("notifications:center"))
    reset_queries()
    with django_assert_num_queries(few_rows):
        response = alice_client.get(reverse("notifications:center"))
    assert len(row_ids(response)) == 20


def test_load_more_pages_by_id_without_offset(alice, alice_client):
    sent = send_many(alice, 25)
    first = alice_client.get(reverse("notifications:center"))
    assert first.context["has_more"]
    last_shown = row_ids(first)[-1]
    assert f"before={last_shown}" in first.context["next_query"]

    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        more = alice_client.get(reverse("notifications:center") + f"?before={last_shown}", **HTMX)
    content = more.content.decode()
    assert [n.pk for n in sent if f'id="center-notification-{n.pk}"' in content] == [
        n.pk for n in sent[:5]
    ]
    assert "Load more" not in content
    assert "<html" not in content  # Only the rows partial.
    assert not any("OFFSET" in query["sql"].upper() for query in queries.captured_queries)


def test_unread_filter_and_kind_filter(alice, alice_client):
    read = send(alice, title="Read one")
    unread = send(alice, title="Unread one")
    confirmed = send(alice, kind="registration_confirmed", title="Confirmed")
    Notification.objects.filter(pk=read.pk).update(is_read=True)
    url = reverse("notifications:center")
    assert row_ids(alice_client.get(url + "?show=unread")) == [confirmed.pk, unread.pk]
    assert row_ids(alice_client.get(url + "?kind=registration_confirmed")) == [confirmed.pk]
    assert len(row_ids(alice_client.get(url + "?kind=no-such-kind"))) == 3


def test_filter_change_over_htmx_renders_only_the_list(alice, alice_client):
    send(alice)
    response = alice_client.get(
        reverse("notifications:center") + "?show=unread", HTTP_HX_TARGET="notification-list", **HTMX
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="notification-list"')
    assert "<html" not in content


def test_center_requires_login():
    response = Client().get(reverse("notifications:center"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# --- Row actions ------------------------------------------------------------------------------


def test_mark_read_with_htmx_returns_the_row_and_the_badge(alice, alice_client):
    notification = send(alice)
    response = alice_client.post(reverse("notifications:mark_read", args=[notification.pk]), **HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert f'id="center-notification-{notification.pk}"' in content
    assert "is-read" in content and "Mark unread" in content
    assert 'id="notification-badge"' in content and 'hx-swap-oob="true"' in content
    notification.refresh_from_db()
    assert notification.is_read and notification.read_at is not None


def test_mark_read_without_javascript_redirects_back(alice, alice_client):
    notification = send(alice)
    response = alice_client.post(
        reverse("notifications:mark_read", args=[notification.pk]),
        {"next": "/notifications/?show=unread"},
    )
    assert response.status_code == 302
    assert response.url == "/notifications/?show=unread"
    notification.refresh_from_db()
    assert notification.is_read


def test_redirect_back_never_leaves_the_site(alice, alice_client):
    notification = send(alice)
    response = alice_client.post(
        reverse("notifications:mark_read", args=[notification.pk]),
        {"next": "https://evil.example/"},
    )
    assert response.url == reverse("notifications:center")


def test_mark_unread_puts_it_back_in_the_unread_count(alice, alice_client):
    notification = send(alice)
    Notification.objects.filter(pk=notification.pk).update(is_read=True)
    response = alice_client.post(
        reverse("notifications:mark_unread", args=[notification.pk]), **HTMX
    )
    assert "is-unread" in response.content.decode()
    notification.refresh_from_db()
    assert not notification.is_read
    badge = alice_client.get(reverse("notifications:badge")).content.decode()
    assert ">1</span>" in badge


def test_dismiss_removes_the_row_and_hides_it_from_the_center(alice, alice_client):
    notification = send(alice)
    response = alice_client.post(reverse("notifications:dismiss", args=[notification.pk]), **HTMX)
    assert f"center-notification-{notification.pk}" not in response.content.decode()
    assert row_ids(alice_client.get(reverse("notifications:center"))) == []
    notification.refresh_from_db()
    assert notification.dismissed_at is not None and notification.is_read


def test_mark_all_read_marks_everything_read_and_rerenders_the_list(alice, alice_client):
    send_many(alice, 3)
    response = alice_client.post(
        reverse("notifications:mark_all_read"), {"show": "all"},
        HTTP_HX_TARGET="notification-list", **HTMX,
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="notification-list"')
    assert "is-unread" not in content
    assert Notification.objects.filter(recipient=alice, is_read=False).count() == 0


def test_mark_all_read_without_javascript_redirects(alice, alice_client):
    send_many(alice, 2)
    response = alice_client.post(reverse("notifications:mark_all_read"))
    assert response.status_code == 302
    assert Notification.objects.filter(recipient=alice, is_read=False).count() == 0


def test_clear_all_empties_the_list_and_offers_an_undo_that_restores_it(alice, bob, alice_client):
    first, second, third = send_many(alice, 3)
    alice_client.post(reverse("notifications:mark_read", args=[first.pk]))
    theirs = send(bob)
    response = alice_client.post(
        reverse("notifications:clear_all"), {"show": "all"}, HTTP_HX_TARGET="notification-list",
        **HTMX,
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="notification-list"')
    assert "caught up" in content and "center-notification-" not in content
    assert "3 notifications cleared" in content and 'data-action="undo-clear"' in content
    assert 'aria-label="0 unread notifications"' in content  # the badge
    assert row_ids(alice_client.get(reverse("notifications:center"))) == []
    cleared_at = re.search(r'name="cleared_at" value="([^"]+)"', content).group(1)

    response = alice_client.post(
        reverse("notifications:undo_clear"), {"cleared_at": cleared_at, "show": "all"}, **HTMX
    )
    content = response.content.decode()
    assert f"center-notification-{third.pk}" in content
    assert 'id="undo-clear" hx-swap-oob="delete"' in content
    assert row_ids(alice_client.get(reverse("notifications:center"))) == [
        third.pk, second.pk, first.pk
    ]
    # As they were: the one read before the clear stays read, the others are unread again.
    unread = set(Notification.objects.filter(recipient=alice, is_read=False).values_list(
        "pk", flat=True))
    assert unread == {second.pk, third.pk}
    assert Notification.objects.get(pk=theirs.pk).dismissed_at is None


def test_clear_all_and_undo_work_without_javascript(alice, alice_client):
    send_many(alice, 2)
    response = alice_client.post(reverse("notifications:clear_all"))
    assert response.status_code == 302 and "cleared=" in response.url
    page = alice_client.get(response.url).content.decode()
    assert 'data-action="undo-clear"' in page
    cleared_at = re.search(r'name="cleared_at" value="([^"]+)"', page).group(1)
    response = alice_client.post(reverse("notifications:undo_clear"), {"cleared_at": cleared_at})
    assert response.status_code == 302
    assert len(row_ids(alice_client.get(reverse("notifications:center")))) == 2


def test_undo_restores_only_that_clear_and_refuses_a_bad_moment(alice, alice_client):
    send(alice)
    services.notification_dismiss_all(user=alice)
    newer = send(alice)
    _, second_clear = services.notification_dismiss_all(user=alice)
    response = alice_client.post(
        reverse("notifications:undo_clear"), {"cleared_at": second_clear.isoformat()}, **HTMX
    )
    assert response.status_code == 200
    assert row_ids(alice_client.get(reverse("notifications:center"))) == [newer.pk]
    for bad in ["", "yesterday", "2026-13-45T00:00:00+00:00", "2026-01-01T00:00:00"]:
        response = alice_client.post(reverse("notifications:undo_clear"), {"cleared_at": bad})
        assert response.status_code == 400
    assert row_ids(alice_client.get(reverse("notifications:center"))) == [newer.pk]


def test_undo_cannot_bring_back_another_users_clear(alice, bob, alice_client):
    send(bob)
    _, cleared_at = services.notification_dismiss_all(user=bob)
    alice_client.post(reverse("notifications:undo_clear"), {"cleared_at": cleared_at.isoformat()})
    assert Notification.objects.get(recipient=bob).dismissed_at == cleared_at


def test_click_through_marks_read_records_the_click_and_redirects(alice, alice_client):
    notification = send(alice, url="/events/12/")
    response = alice_client.post(reverse("notifications:open", args=[notification.pk]))
    assert response.status_code == 302
    assert response.url == "/events/12/"
    notification.refresh_from_db()
    assert notification.is_read and notification.clicked_at is not None
    assert notification.seen_at is not None


def test_click_through_to_another_site_goes_to_the_center_instead(alice, alice_client):
    notification = send(alice, url="/events/12/")
    # notify() refuses such links now; a row stored before that check may still carry one.
    type(notification).objects.filter(pk=notification.pk).update(url="https://evil.example/phish")
    response = alice_client.post(reverse("notifications:open", args=[notification.pk]))
    assert response.url == reverse("notifications:center")


ROW_ACTIONS = ["mark_read", "mark_unread", "dismiss", "open"]


@pytest.mark.parametrize("action", ROW_ACTIONS)
def test_another_users_notification_is_404_and_unchanged(action, bob, alice_client):
    theirs = send(bob)
    before = Notification.objects.filter(pk=theirs.pk).values().get()
    response = alice_client.post(reverse(f"notifications:{action}", args=[theirs.pk]), **HTMX)
    assert response.status_code == 404
    assert Notification.objects.filter(pk=theirs.pk).values().get() == before


@pytest.mark.parametrize("action", ROW_ACTIONS)
def test_row_actions_refuse_a_post_without_csrf_token(action, alice):
    notification = send(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = Notification.objects.filter(pk=notification.pk).values().get()
    response = client.post(reverse(f"notifications:{action}", args=[notification.pk]), **HTMX)
    assert response.status_code == 403
    assert Notification.objects.filter(pk=notification.pk).values().get() == before


@pytest.mark.parametrize("action", ["mark_all_read", "clear_all"])
def test_all_at_once_actions_refuse_a_post_without_csrf_token(action, alice):
    send(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse(f"notifications:{action}")).status_code == 403
    assert Notification.objects.filter(
        recipient=alice, is_read=False, dismissed_at=None
    ).count() == 1


def test_htmx_posts_with_the_csrf_header_are_accepted(alice):
    notification = send(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("notifications:center"))  # Sets the CSRF cookie, as the page does.
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("notifications:mark_read", args=[notification.pk]), HTTP_X_CSRFTOKEN=token, **HTMX
    )
    assert response.status_code == 200


@pytest.mark.parametrize("action", ROW_ACTIONS)
def test_row_actions_are_post_only(action, alice, alice_client):
    notification = send(alice)
    response = alice_client.get(reverse(f"notifications:{action}", args=[notification.pk]))
    assert response.status_code == 405


def test_row_actions_require_login(alice):
    notification = send(alice)
    response = Client().post(reverse("notifications:mark_read", args=[notification.pk]))
    assert response.status_code == 302
    notification.refresh_from_db()
    assert not notification.is_read


# --- Dropdown and badge -----------------------------------------------------------------------


def test_dropdown_shows_the_latest_ten_and_names_them_for_the_seen_beacon(alice, alice_client):
    send_many(alice, 12)
    latest_ten = list(
        Notification.objects.filter(recipient=alice, in_app=True).order_by("-id")
        .values_list("pk", flat=True)[:10]
    )
    response = alice_client.get(reverse("notifications:dropdown"), **HTMX)
    content = response.content.decode()
    shown = [int(pk) for pk in re.findall(r'id="dropdown-notification-(\d+)"', content)]
    assert shown == latest_ten
    assert seen_beacon(response)[1] == latest_ten
    assert "Mark all read" in content and reverse("notifications:center") in content


def test_dropdown_keeps_the_same_number_of_queries_as_rows_grow(
    alice, alice_client, django_assert_num_queries
):
    send_many(alice, 2)
    alice_client.get(reverse("notifications:dropdown"))  # The badge's counter is cached from here.
    few_rows = queries_made(lambda: alice_client.get(reverse("notifications:dropdown")))
    send_many(alice, 15)
    alice_client.get(reverse("notifications:dropdown"))
    reset_queries()
    with django_assert_num_queries(few_rows):
        alice_client.get(reverse("notifications:dropdown"))


def test_mark_all_read_from_the_dropdown_rerenders_the_dropdown(alice, alice_client):
    send_many(alice, 2)
    response = alice_client.post(
        reverse("notifications:mark_all_read"), HTTP_HX_TARGET="notification-dropdown", **HTMX
    )
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="notification-dropdown"')
    assert "is-unread" not in content
    assert 'id="notification-badge"' in content and " hidden" in content
    assert response["HX-Trigger"] == '{"herald:read-state": {}}'


def test_badge_is_hidden_at_zero_and_counts_new_ones(
    alice, alice_client, django_capture_on_commit_callbacks
):
    assert " hidden" in alice_client.get(reverse("notifications:badge")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        send_many(alice, 3)
    assert ">3</span>" in alice_client.get(reverse("notifications:badge")).content.decode()


def test_badge_shows_99_plus_past_99(alice, alice_client):
    from django.core.cache import cache

    from notifications.counters import unread_key

    cache.set(unread_key(alice.pk), 120)
    assert ">99+</span>" in alice_client.get(reverse("notifications:badge")).content.decode()


def test_every_page_has_the_bell_the_socket_and_the_toast_region(alice, alice_client):
    content = alice_client.get("/").content.decode()
    assert 'id="notification-bell"' in content
    assert 'ws-connect="/ws/notifications/"' in content
    assert 'id="notification-toasts"' in content and 'aria-live="polite"' in content


def test_unread_urgent_notifications_are_pinned_as_banners(alice, alice_client):
    urgent = send(alice, kind="event_cancelled", title="Meetup")
    normal = send(alice)
    content = alice_client.get("/").content.decode()
    assert f'id="notification-{urgent.pk}" class="banner' in content
    assert f'id="notification-{normal.pk}"' not in content
    Notification.objects.filter(pk=urgent.pk).update(is_read=True)
    assert f'id="notification-{urgent.pk}"' not in alice_client.get("/").content.decode()


# --- Preferences ------------------------------------------------------------------------------


def test_preferences_page_shows_the_kind_by_channel_matrix(alice_client):
    response = alice_client.get(reverse("notifications:preferences"))
    content = response.content.decode()
    assert 'name="event_updated__in_app"' in content
    assert 'name="event_cancelled__sms"' in content
    assert "rate_limit_summary" not in content  # Internal kinds are not offered.


def test_turning_a_channel_off_stores_only_that_choice(alice, alice_client):
    matrix_on = alice_client.get(reverse("notifications:preferences")).context["matrix_form"]
    data = {"section": "channels"}
    data.update({name: "on" for name, field in matrix_on.fields.items() if field.initial})
    del data["event_updated__in_app"]
    response = alice_client.post(reverse("notifications:preferences"), data)
    assert response.status_code == 302
    stored = Preference.objects.filter(user=alice).values_list("kind", "channel", "enabled")
    assert list(stored) == [("event_updated", "in_app", False)]


def test_quiet_hours_are_saved_with_their_time_zone(alice, alice_client):
    response = alice_client.post(
        reverse("notifications:preferences"),
        {"section": "quiet_hours", "enabled": "on", "start": "22:00", "end": "07:00",
         "time_zone": "Europe/Berlin"},
    )
    assert response.status_code == 302
    quiet = QuietHours.objects.get(user=alice)
    assert (quiet.start.hour, quiet.end.hour, quiet.time_zone) == (22, 7, "Europe/Berlin")


def test_quiet_hours_without_times_answer_400_with_a_message(alice, alice_client):
    response = alice_client.post(
        reverse("notifications:preferences"),
        {"section": "quiet_hours", "enabled": "on", "time_zone": "UTC"},
    )
    assert response.status_code == 400
    assert "need a start and an end" in response.content.decode()
    assert not QuietHours.objects.filter(user=alice).exists()


def test_unknown_time_zone_is_refused(alice, alice_client):
    response = alice_client.post(
        reverse("notifications:preferences"),
        {"section": "quiet_hours", "enabled": "on", "start": "22:00", "end": "07:00",
         "time_zone": "Mars/Olympus"},
    )
    assert response.status_code == 400
    assert not QuietHours.objects.filter(user=alice).exists()


def test_unsubscribe_removes_only_my_subscription(alice, bob, alice_client):
    subscription_follow(user=alice, topic="events.event:999")
    subscription_follow(user=bob, topic="events.event:999")
    page = alice_client.get(reverse("notifications:preferences")).content.decode()
    assert "events.event:999" in page  # The object is gone, so the topic is its label.
    response = alice_client.post(
        reverse("notifications:unfollow"), {"topic": "events.event:999"}, **HTMX
    )
    assert response.status_code == 200
    assert not Subscription.objects.filter(user=alice).exists()
    assert Subscription.objects.filter(user=bob).exists()


def test_unsubscribing_from_what_i_do_not_follow_is_404(alice_client):
    response = alice_client.post(reverse("notifications:unfollow"), {"topic": "events.event:1"})
    assert response.status_code == 404


def test_service_worker_is_served_from_the_root_with_a_site_wide_scope():
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"


def test_preferences_list_followed_events_by_title_with_a_link(alice, alice_client):
    from tests.ui.helpers import a_registered_event

    _, event = a_registered_event(alice, title="Chess club finals")  # Registering follows it.
    content = alice_client.get(reverse("notifications:preferences")).content.decode()
    assert f'<a href="{event.get_absolute_url()}">Chess club finals</a>' in content
    assert 'aria-label="Unsubscribe from Chess club finals"' in content


def test_preferences_page_offers_web_push_with_the_servers_public_key(alice_client, settings):
    settings.VAPID_PUBLIC_KEY = "BPublicKeyFromTheServer"
    content = alice_client.get(reverse("notifications:preferences")).content.decode()
    assert 'data-vapid-public-key="BPublicKeyFromTheServer"' in content
    assert f'data-register-url="{reverse("push:subscribe")}"' in content
    assert 'data-action="enable-push"' in content


def test_times_read_just_now_then_in_the_largest_unit():
    from datetime import timedelta

    from django.utils import timezone

    from notifications.templatetags.notification_ui import ago

    now = timezone.now()
    assert ago(now - timedelta(seconds=20)) == "just now"
    assert ago(now - timedelta(hours=2, minutes=5)) == "2\xa0hours ago"


def test_preferences_page_queries_do_not_grow_with_subscriptions(
    alice, alice_client, django_assert_num_queries
):
    from tests.ui.helpers import a_registered_event

    a_registered_event(alice, title="First followed")
    alice_client.get(reverse("notifications:preferences"))  # The badge's counter is cached now.
    few = queries_made(lambda: alice_client.get(reverse("notifications:preferences")))
    for n in range(6):
        a_registered_event(alice, title=f"Followed {n}")
    reset_queries()
    with django_assert_num_queries(few):
        response = alice_client.get(reverse("notifications:preferences"))
    assert len(response.context["subscriptions"]) == 7


def test_admin_shows_delivered_seen_and_clicked_per_kind(alice, alice_client):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    updates = send_many(alice, 3)
    send(alice, kind="event_reminder")
    shown = alice_client.get(reverse("notifications:dropdown"), **HTMX)  # Shows all four,
    beacon_url, ids = seen_beacon(shown)
    alice_client.post(beacon_url, {"ids": ",".join(map(str, ids))}, **HTMX)  # and they are seen.
    alice_client.post(reverse("notifications:open", args=[updates[0].pk]))  # One clicked.
    client = Client()
    client.force_login(admin)
    response = client.get(reverse("admin:notifications_notification_changelist"))
    assert response.status_code == 200
    rows = {(row["kind"], row["channel"]): row for row in response.context["ledger"]}
    in_app = rows["event_updated", "in_app"]
    assert (in_app["sent"], in_app["seen"], in_app["clicked"]) == (3, 3, 1)
    reminder = rows["event_reminder", "in_app"]
    assert (reminder["sent"], reminder["clicked"]) == (1, 0)
    content = response.content.decode()
    assert (
        '<tr data-kind="event_updated" data-channel="in_app"><th scope="row">Event updated</th>'
        "<td>In-app</td><td>3</td><td>3</td><td>1</td></tr>"
    ) in content


def test_unticking_quiet_hours_turns_them_off(alice, alice_client):
    from datetime import time

    from notifications.services import quiet_hours_set

    quiet_hours_set(user=alice, start=time(22), end=time(7), time_zone="UTC")
    response = alice_client.post(
        reverse("notifications:preferences"), {"section": "quiet_hours", "time_zone": "UTC"}
    )
    assert response.status_code == 302
    assert not QuietHours.objects.filter(user=alice).exists()


def test_an_unknown_preferences_section_is_a_400(alice, alice_client):
    response = alice_client.post(reverse("notifications:preferences"), {"section": "colours"})
    assert response.status_code == 400
    assert "Unknown preferences section" in response.content.decode()
