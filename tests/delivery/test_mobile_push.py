"""Phone-app push through APNs and FCM, against local fake services that check each request as
Apple and Google do (HTTP/2, TLS, JWT claims and signatures, payload shape) and answer with
their real error bodies."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.delivery import services as delivery_services
from notifications.delivery.backends import apns
from notifications.delivery.backends.apns import ProviderToken
from notifications.delivery.backends.fcm import AccessToken
from notifications.delivery.breaker import CircuitBreaker
from notifications.models import Channel, Delivery, DeliveryStatus, MobileDevice
from notifications.services import notify, preference_set
from tests.fakes import mobile_push as fake

from .factories import UserFactory

pytestmark = pytest.mark.django_db

IOS_TOKEN = "a1" * 32
ANDROID_TOKEN = "fcm-registration-token-1"


@pytest.fixture(scope="module")
def fake_push(tmp_path_factory):
    server = fake.FakePushServer().start()
    server.ca_file = server.write_ca(tmp_path_factory.mktemp("push") / "ca.pem")
    yield server
    server.stop()


@pytest.fixture
def push_services(fake_push, settings):
    """APNs and FCM pointed at the fake services, with their keys; provider tokens forgotten."""
    fake_push.clear()
    fake_push.delay = 0.0
    settings.APNS_URL = settings.FCM_URL = fake_push.url
    settings.MOBILE_PUSH_CA_FILE = fake_push.ca_file
    settings.APNS_KEY_ID, settings.APNS_TEAM_ID = fake.APNS_KEY_ID, fake.APNS_TEAM_ID
    settings.APNS_PRIVATE_KEY = fake_push.apns_private_key_pem
    settings.APNS_TOPIC = fake.APNS_TOPIC
    settings.FCM_SERVICE_ACCOUNT_JSON = json.dumps(fake_push.service_account())
    settings.FCM_PROJECT_ID = ""
    ProviderToken.forget()
    AccessToken.forget()
    CircuitBreaker(f"apns:{fake_push.host}").reset()
    CircuitBreaker(f"fcm:{fake_push.host}").reset()
    yield fake_push
    ProviderToken.forget()
    AccessToken.forget()


def device(user, platform="ios", token=IOS_TOKEN, **fields):
    return MobileDevice.objects.create(user=user, platform=platform, token=token, **fields)


def cancel_notice(users, key="event:7:cancelled"):
    """Urgent; the mobile channel is on by default for it."""
    return notify(
        kind="event_cancelled", recipients=users, context={"event_title": "Summer picnic"},
        dedupe_key=key, url="/events/7/",
    )


def update_notice(users, key="event:7:updated:v2"):
    for user in users:
        preference_set(user=user, kind="event_updated", channel=Channel.MOBILE, enabled=True)
    return notify(
        kind="event_updated", recipients=users, context={"event_title": "Summer picnic"},
        dedupe_key=key, url="/events/7/",
    )


def mobile_row(user):
    return Delivery.objects.get(notification__recipient=user, channel=Channel.MOBILE)


def iphones(count, first=0):
    """``count`` users with an iPhone each; token n is ``f"{first + n:02x}" * 32``."""
    users = UserFactory.create_batch(count)
    for n, user in enumerate(users):
        device(user, token=f"{first + n:02x}" * 32)
    return users


def send_update_as_one_batch(users, capture):
    """Queue the update to ``users`` without sending it, then send all its rows as one batch
    (as one ``deliver_batch`` task does); every row must end sent."""
    with capture(execute=False):
        result = update_notice(users)
    outcomes = delivery_services.deliveries_send(delivery_ids=result.delivery_ids)
    assert set(outcomes.values()) == {"sent"}, list(Delivery.objects.filter(pk__in=result.delivery_ids).values_list("status", "last_error"))


def test_urgent_news_reaches_an_iphone_through_apns_over_http2(
    push_services, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user])

    (request,) = push_services.to("apns")
    assert request.http_version == "2"
    assert request.token == IOS_TOKEN
    assert request.headers["apns-priority"] == "10"
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-topic"] == fake.APNS_TOPIC
    assert request.headers["apns-collapse-id"].startswith("event-cancelled:")
    claims = request.jwt_claims()
    assert claims["iss"] == fake.APNS_TEAM_ID and abs(claims["iat"] - timezone.now().timestamp()) < 60
    body = request.json()
    assert body["aps"]["alert"] == {"title": "Summer picnic is cancelled",
                                    "body": "The organiser cancelled this event."}
    assert body["aps"]["badge"] >= 1
    assert body["url"] == "http://127.0.0.1:8000/events/7/"
    row = mobile_row(user)
    assert row.status == DeliveryStatus.SENT and len(row.provider_message_id) == 36


def test_normal_news_goes_at_priority_5_and_the_device_app_id_is_its_topic(
    push_services, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user, app_id="org.herald.beta")
    with django_capture_on_commit_callbacks(execute=True):
        update_notice([user])
    (request,) = push_services.to("apns")
    assert request.headers["apns-priority"] == "5"
    assert request.headers["apns-topic"] == "org.herald.beta"
    assert request.headers["apns-collapse-id"] == "event:7:updated:v2"


@pytest.mark.parametrize("answer", ["unregistered", "bad_token"])
def test_a_token_apns_calls_gone_removes_the_device(
    answer, push_services, django_capture_on_commit_callbacks
):
    user = UserFactory()
    token = IOS_TOKEN if answer == "unregistered" else "not-a-hex-token"
    if answer == "unregistered":
        push_services.gone(token)
    kept = device(user, platform="android", token=ANDROID_TOKEN)
    device(user, token=token)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user])
    assert list(MobileDevice.objects.filter(user=user)) == [kept]
    row = mobile_row(user)
    assert row.status == DeliveryStatus.SENT, row.last_error  # the Android phone took it


def test_the_apns_jwt_is_reused_then_renewed_before_it_is_an_hour_old(
    push_services, monkeypatch, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user], key="one")
        cancel_notice([user], key="two")
    first, second = push_services.to("apns")
    assert first.headers["authorization"] == second.headers["authorization"]

    later = timezone.now().timestamp() + 50 * 60 + 1  # past APNS_TOKEN_REFRESH_SECONDS
    monkeypatch.setattr(apns.time, "time", lambda: later)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user], key="three")
    third = push_services.to("apns")[-1]
    assert third.headers["authorization"] != first.headers["authorization"]
    assert third.jwt_claims()["iat"] == int(later)


def test_apns_refusing_an_expired_provider_token_gets_a_new_one_and_the_push(
    push_services, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user], key="one")
    push_services.expire_provider_tokens()
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user], key="two")
    refused, retried = push_services.to("apns")[1:]
    assert refused.headers["authorization"] != retried.headers["authorization"]
    assert Delivery.objects.filter(channel=Channel.MOBILE, status=DeliveryStatus.SENT).count() == 2


def test_android_gets_fcm_v1_with_one_oauth_token_for_many_sends(
    push_services, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user, platform="android", token=ANDROID_TOKEN, app_id="org.herald.app")
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user], key="one")
        update_notice([user], key="two")
    assert len(push_services.to("oauth")) == 1  # cached until it expires
    urgent, normal = push_services.to("fcm")
    assert urgent.http_version == "2"
    message = urgent.json()["message"]
    assert message["token"] == ANDROID_TOKEN
    assert message["notification"]["title"] == "Summer picnic is cancelled"
    assert message["android"]["priority"] == "HIGH"
    assert message["android"]["restricted_package_name"] == "org.herald.app"
    assert message["data"]["url"] == "http://127.0.0.1:8000/events/7/"
    assert normal.json()["message"]["android"]["priority"] == "NORMAL"
    assert normal.json()["message"]["android"]["collapse_key"] == "two"
    rows = Delivery.objects.filter(channel=Channel.MOBILE).values_list("status", "provider_message_id")
    assert all(status == "sent" and pid.startswith("projects/herald-test/messages/")
               for status, pid in rows)


def test_an_unregistered_fcm_token_removes_the_device_and_the_row_is_dead(
    push_services, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user, platform="android", token=ANDROID_TOKEN)
    push_services.gone(ANDROID_TOKEN)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user])
    assert not MobileDevice.objects.exists()
    row = mobile_row(user)
    assert row.status == DeliveryStatus.DEAD and "UNREGISTERED" in row.last_error


def test_fcm_429_is_retried_no_sooner_than_its_retry_after(
    push_services, fast_retries, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user, platform="android", token=ANDROID_TOKEN)
    push_services.script(ANDROID_TOKEN, (429, fake._fcm_error(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"), {"Retry-After": "120"}))
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user])
    row = mobile_row(user)
    assert row.status == DeliveryStatus.FAILED and "QUOTA_EXCEEDED" in row.last_error
    assert row.next_attempt_at >= before + timedelta(seconds=120)
    assert len(push_services.to("fcm")) == 1


def test_fcm_503_is_retried_and_then_delivered(
    push_services, fast_retries, django_capture_on_commit_callbacks
):
    user = UserFactory()
    device(user, platform="android", token=ANDROID_TOKEN)
    push_services.script(ANDROID_TOKEN, (503, fake._fcm_error(
        503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")))
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([user])
    assert len(push_services.to("fcm")) == 2
    row = mobile_row(user)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)


def test_an_apns_outage_opens_its_breaker_without_holding_back_fcm(
    push_services, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BREAKER_THRESHOLD = 2
    users = UserFactory.create_batch(3)
    for n, user in enumerate(users):
        token = f"{n:02d}" * 32
        device(user, token=token)
        push_services.script(token, (500, {"reason": "InternalServerError"}))
    android_user = UserFactory()
    device(android_user, platform="android", token=ANDROID_TOKEN)
    for n, user in enumerate(users):
        with django_capture_on_commit_callbacks(execute=True):
            cancel_notice([user], key=f"cancel-{n}")
    assert len(push_services.to("apns")) == 2  # the third met the open breaker
    statuses = [mobile_row(user) for user in users]
    assert [row.status for row in statuses] == ["failed", "failed", "pending"]
    assert "circuit open" in statuses[2].last_error and statuses[2].attempts == 0
    with django_capture_on_commit_callbacks(execute=True):
        cancel_notice([android_user], key="android")
    assert mobile_row(android_user).status == DeliveryStatus.SENT


def test_a_batch_goes_out_concurrently_over_one_http2_connection(
    push_services, django_capture_on_commit_callbacks
):
    push_services.delay = 0.05  # answers wait, so concurrent streams overlap
    send_update_as_one_batch(iphones(10), django_capture_on_commit_callbacks)
    received = push_services.to("apns")
    assert len(received) == 10
    assert len({request.connection for request in received}) == 1
    assert push_services.max_in_flight > 1


def test_a_fan_out_shares_its_text_yet_each_phone_gets_its_own_badge_and_id(
    push_services, django_capture_on_commit_callbacks
):
    users = iphones(3)
    with django_capture_on_commit_callbacks(execute=True):  # the last user has 2 unread before
        notify(kind="event_updated", recipients=[users[2]], dedupe_key="earlier:1")
        notify(kind="event_updated", recipients=[users[2]], dedupe_key="earlier:2")
    send_update_as_one_batch(users, django_capture_on_commit_callbacks)
    received = {request.token: request.json() for request in push_services.to("apns")}
    badges = [received[f"{n:02x}" * 32]["aps"]["badge"] for n in range(3)]
    assert badges == [1, 1, 3]
    ids = {received[f"{n:02x}" * 32]["notification_id"] for n in range(3)}
    assert len(ids) == 3
    assert len({json.dumps(body["aps"]["alert"]) for body in received.values()}) == 1


def test_a_template_that_reads_the_recipient_is_rendered_for_each_row():
    from notifications.delivery import rendering

    assert not rendering._reads_per_row_values(
        '{"title": "{{ notification.title|escapejs }}", "badge": {{ badge|default:0 }}}'
    )
    for per_row in (
        '{"title": "Hi {{ recipient.first_name }}"}',
        '{"collapse_key": "{{ notification.pk }}"}',
        '{"title": "{{ notification.title|default:notification.id }}"}',
        '{% include "x.json" %}',
        '{% load humanize %}{"title": "{{ notification.title }}"}',
    ):
        assert rendering._reads_per_row_values(per_row), per_row


def test_streams_past_the_providers_limit_wait_for_a_free_one_on_the_same_connection(
    push_services, settings, tmp_path, django_capture_on_commit_callbacks
):
    narrow = fake.FakePushServer(max_streams=2, delay=0.05).start()
    try:
        settings.APNS_URL = narrow.url
        settings.MOBILE_PUSH_CA_FILE = narrow.write_ca(tmp_path / "narrow-ca.pem")
        settings.APNS_PRIVATE_KEY = narrow.apns_private_key_pem
        ProviderToken.forget()
        CircuitBreaker(f"apns:{narrow.host}").reset()
        send_update_as_one_batch(iphones(7, first=16), django_capture_on_commit_callbacks)
        received = narrow.to("apns")
        assert len(received) == 7
        assert len({request.connection for request in received}) == 1
        assert narrow.max_in_flight == 2
    finally:
        narrow.stop()


def test_a_batch_larger_than_a_claim_is_sent_chunk_after_chunk_with_pushes_overlapping(
    push_services, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(delivery_services, "MOBILE_CLAIM_CHUNK", 3)
    push_services.delay = 0.05  # the next chunk is claimed while these answers wait
    users = iphones(7, first=32)
    send_update_as_one_batch(users, django_capture_on_commit_callbacks)
    assert sorted(request.token for request in push_services.to("apns")) == sorted(
        f"{32 + n:02x}" * 32 for n in range(7)
    )
    rows = [mobile_row(user) for user in users]
    assert {(row.status, row.attempts, row.claim_token) for row in rows} == {("sent", 1, None)}


def test_the_next_batch_reuses_the_connection_unless_it_sat_idle_too_long(
    push_services, monkeypatch, django_capture_on_commit_callbacks
):
    from notifications.delivery.backends import h2client

    send_update_as_one_batch(iphones(2, first=48), django_capture_on_commit_callbacks)
    send_update_as_one_batch(iphones(2, first=50), django_capture_on_commit_callbacks)
    assert len({request.connection for request in push_services.to("apns")}) == 1
    monkeypatch.setattr(h2client, "IDLE_REUSE_SECONDS", -1.0)  # any idle connection is stale
    send_update_as_one_batch(iphones(1, first=52), django_capture_on_commit_callbacks)
    assert len({request.connection for request in push_services.to("apns")}) == 2
