"""Admin broadcasts: the right people, once, with a preview and visible progress."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from events.models import Registration, RegistrationStatus
from notifications.kinds import BROADCAST
from notifications.models import Notification
from operations.broadcasts import broadcast_fan_out
from operations.models import Audience, Broadcast, BroadcastStatus
from tests.events.factories import EventFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def received(user):
    return Notification.objects.filter(recipient=user, kind=BROADCAST).count()


def compose(admin_client, **fields):
    data = {"title": "Site maintenance tonight", "body": "Back at 23:00.", "url": "/events/",
            "priority": "normal", "audience": "everyone", "event": "", "group": "", **fields}
    response = admin_client.post(reverse("admin:operations_broadcast_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return Broadcast.objects.latest("id")


def send(admin_client, broadcast):
    return admin_client.post(reverse("admin:operations_broadcast_send", args=[broadcast.pk]))


def test_a_broadcast_to_an_events_registrants_reaches_them_once_however_often_sent(
    admin_client, django_capture_on_commit_callbacks
):
    event = EventFactory()
    confirmed, waiting, left, outsider = (UserFactory(username=name) for name in
                                          ("confirmed", "waiting", "left", "outsider"))
    for user, status in ((confirmed, RegistrationStatus.CONFIRMED),
                         (waiting, RegistrationStatus.WAITLISTED),
                         (left, RegistrationStatus.CANCELLED)):
        Registration.objects.create(event=event, user=user, status=status)
    broadcast = compose(admin_client, audience="event", event=str(event.pk),
                        title="Doors open at 18:30")

    page = admin_client.get(reverse("admin:operations_broadcast_change", args=[broadcast.pk]))
    assert page.context["preview"].recipients == 2
    assert page.context["preview"].title == "Doors open at 18:30"
    assert b"Send to 2 people" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        first = send(admin_client, broadcast)
    with django_capture_on_commit_callbacks(execute=True):
        second = send(admin_client, broadcast)  # the double click

    assert first.status_code == second.status_code == 302
    assert [received(user) for user in (confirmed, waiting, left, outsider)] == [1, 1, 0, 0]
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.SENT
    assert (broadcast.recipients_done, broadcast.recipients_total) == (2, 2)
    notification = Notification.objects.filter(kind=BROADCAST).first()
    assert (notification.title, notification.body, notification.url) == (
        "Doors open at 18:30", "Back at 23:00.", "/events/")
    assert notification.dedupe_key == f"broadcast:{broadcast.pk}"
    messages = [str(m) for m in second.wsgi_request._messages]
    assert any("already sent" in m for m in messages)


def test_a_broadcast_to_a_group_and_to_everyone(admin_client, django_capture_on_commit_callbacks):
    staff_group = Group.objects.create(name="Volunteers")
    volunteer, other = UserFactory(username="vol"), UserFactory(username="other")
    UserFactory(username="gone", is_active=False)
    volunteer.groups.add(staff_group)

    to_group = compose(admin_client, audience="group", group=str(staff_group.pk))
    to_all = compose(admin_client, audience="everyone", title="Hello all")
    with django_capture_on_commit_callbacks(execute=True):
        send(admin_client, to_group)
    with django_capture_on_commit_callbacks(execute=True):
        send(admin_client, to_all)

    assert (received(volunteer), received(other)) == (2, 1)
    assert Notification.objects.filter(kind=BROADCAST, recipient__username="gone").count() == 0
    to_all.refresh_from_db()
    assert to_all.recipients_total == 3  # admin, vol, other


def test_the_audience_needs_its_target(admin_client):
    data = {"title": "x", "body": "", "url": "", "priority": "normal", "audience": "event",
            "event": "", "group": ""}
    response = admin_client.post(reverse("admin:operations_broadcast_add"), data)
    assert response.status_code == 200
    assert "Choose the event" in str(response.context["adminform"].form.errors)
    assert not Broadcast.objects.exists()


def test_fan_out_goes_in_chunks_shows_progress_and_carries_on_after_a_restart(admin_client):
    users = [UserFactory(username=f"u{n}") for n in range(5)]
    broadcast = Broadcast.objects.create(title="Chunked", audience=Audience.EVERYONE,
                                         status=BroadcastStatus.SENDING, recipients_total=6)
    # A worker that stopped after the first chunk of two left its place on the row.
    with pytest.MonkeyPatch.context() as patch:
        from operations import broadcasts

        real_notify = broadcasts.notify
        calls = []

        def notify_then_stop(**kwargs):
            calls.append(kwargs["recipients"])
            if len(calls) == 2:
                raise RuntimeError("worker lost")
            return real_notify(**kwargs)

        patch.setattr(broadcasts, "notify", notify_then_stop)
        with pytest.raises(RuntimeError):
            broadcast_fan_out(broadcast_id=broadcast.pk, chunk_size=2)
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.recipients_done) == (BroadcastStatus.SENDING, 2)
    progress = admin_client.get(
        reverse("admin:operations_broadcast_progress", args=[broadcast.pk]))
    assert b"2 of 6 recipients notified" in progress.content
    assert b'hx-trigger="every 1s"' in progress.content  # still polling

    assert broadcast_fan_out(broadcast_id=broadcast.pk, chunk_size=2) == 4

    assert all(received(user) == 1 for user in users)
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.recipients_done) == (BroadcastStatus.SENT, 6)
    done = admin_client.get(reverse("admin:operations_broadcast_progress", args=[broadcast.pk]))
    assert b"6 of 6 recipients notified" in done.content
    assert b"hx-trigger" not in done.content
    assert broadcast_fan_out(broadcast_id=broadcast.pk) == 0  # a redelivered task: nothing


def test_broadcasts_are_staff_only():
    client = Client()
    client.force_login(UserFactory(username="alice"))
    broadcast = Broadcast.objects.create(title="x")
    response = client.post(reverse("admin:operations_broadcast_send", args=[broadcast.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DRAFT
