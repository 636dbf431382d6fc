import pytest

from notifications import selectors
from notifications.kinds import EVENT_UPDATED, GAME_SCORED
from notifications.models import Notification
from notifications.services import notify, preference_set, subscription_follow

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind=EVENT_UPDATED, recipients=[alice, bob], context={"event_title": "Quiz"},
               dedupe_key="quiz")
        notify(kind=GAME_SCORED, recipients=[alice], context={"total": 7}, dedupe_key="game")


def test_notification_list_filters_by_kind_and_read_and_searches_by_user(admin_client, rows):
    page = admin_client.get("/admin/notifications/notification/", {"kind": GAME_SCORED})
    assert page.status_code == 200
    assert list(page.context["cl"].queryset.values_list("kind", flat=True)) == [GAME_SCORED]

    page = admin_client.get("/admin/notifications/notification/", {"q": "bob"})
    assert [n.recipient.username for n in page.context["cl"].queryset] == ["bob"]

    page = admin_client.get("/admin/notifications/notification/", {"is_read__exact": "1"})
    assert page.context["cl"].queryset.count() == 0


def test_admin_action_marks_read_through_the_service(
    admin_client, alice, rows, django_capture_on_commit_callbacks
):
    assert selectors.unread_count(user=alice) == 2
    ids = list(Notification.objects.filter(recipient=alice).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/notifications/notification/",
            {"action": "mark_read", "_selected_action": ids},
        )
    assert response.status_code == 302
    assert selectors.unread_count(user=alice) == 0


def test_notifications_cannot_be_added_or_edited_by_hand(admin_client, rows):
    assert admin_client.get("/admin/notifications/notification/add/").status_code == 403
    notification = Notification.objects.first()
    page = admin_client.get(f"/admin/notifications/notification/{notification.pk}/change/")
    assert page.status_code == 200 and b"Save" not in page.content


def test_preference_and_subscription_pages_list_rows(admin_client, alice):
    preference_set(user=alice, kind=EVENT_UPDATED, channel="email", enabled=False)
    subscription_follow(user=alice, topic="events.event:12")
    assert b"alice" in admin_client.get("/admin/notifications/preference/").content
    assert b"events.event:12" in admin_client.get("/admin/notifications/subscription/").content
    for model in ("quiethours", "contactpoint", "pushsubscription"):
        assert admin_client.get(f"/admin/notifications/{model}/").status_code == 200
