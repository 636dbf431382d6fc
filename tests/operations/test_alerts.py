"""Alerts: one per incident, to staff only, logged at ERROR, scheduled by beat."""

import logging

import pytest
from django_celery_beat.models import PeriodicTask

from notifications.delivery.breaker import CircuitBreaker
from notifications.kinds import OPS_ALERT
from notifications.models import Notification
from operations import metrics
from operations.alerts import alerts_check
from operations.models import Incident
from tests.factories import UserFactory

from .helpers import tasks_waiting

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    UserFactory(username="alice")  # not staff: never alerted
    UserFactory(username="retired", is_staff=True, is_active=False)
    return UserFactory(username="operator", is_staff=True)


def alerts_of(user):
    return list(Notification.objects.filter(recipient=user, kind=OPS_ALERT).order_by("id"))


def test_an_open_breaker_alerts_staff_once_per_incident(staff, settings, caplog,
                                                       django_capture_on_commit_callbacks):
    settings.DELIVERY_BREAKER_THRESHOLD = 1
    breaker = CircuitBreaker("sms:HttpSmsBackend")
    breaker.record_failure()

    with caplog.at_level(logging.ERROR, logger="operations.alerts"):
        with django_capture_on_commit_callbacks(execute=True):
            first = alerts_check()
        second = alerts_check()
        third = alerts_check()

    assert [incident.key for incident in first] == ["breaker:sms:HttpSmsBackend"]
    assert second == third == []
    [alert] = alerts_of(staff)
    assert alert.priority == "urgent"
    assert alert.title == "Alert: circuit breaker open for sms:HttpSmsBackend"
    assert alert.url == "/admin/operations/"
    assert Notification.objects.filter(kind=OPS_ALERT).count() == 1  # staff only, active only
    assert [r.levelno for r in caplog.records if "ALERT" in r.getMessage()] == [logging.ERROR]

    breaker.reset()
    alerts_check()
    assert Incident.objects.get().resolved_at is not None
    assert len(alerts_of(staff)) == 1

    breaker.record_failure()  # a new incident: a new alert
    alerts_check()
    assert len(alerts_of(staff)) == 2
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 1


def test_growing_dead_letters_alert(staff, settings):
    from notifications.models import Delivery, DeliveryStatus
    from tests.delivery.factories import sms_delivery

    settings.ALERT_DEAD_LETTERS_THRESHOLD = 2
    Delivery.objects.filter(pk=sms_delivery().pk).update(status=DeliveryStatus.DEAD)
    assert alerts_check() == []
    Delivery.objects.filter(pk=sms_delivery().pk).update(status=DeliveryStatus.DEAD)

    [incident] = alerts_check()

    assert incident.key == "dead_letters"
    assert alerts_of(staff)[0].title == "Alert: 2 dead letters in the last 15 minutes"


def test_a_queue_whose_oldest_task_waits_too_long_alerts(staff, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL); make test always provides it")
    settings.ALERT_QUEUE_AGE_SECONDS = 0
    assert alerts_check() == []  # empty queues are never late
    tasks_waiting("bulk")

    assert [incident.key for incident in alerts_check()] == ["queue:bulk"]
    assert "queue bulk has waited" in alerts_of(staff)[0].title


def test_a_web_process_over_its_socket_budget_alerts(staff, settings):
    settings.WEBSOCKET_BUDGET_PER_PROCESS = 1
    gauge = metrics.WEBSOCKETS_OPEN.labels(metrics.role())
    gauge.inc(2)
    try:
        [incident] = alerts_check()
    finally:
        gauge.dec(2)
    assert incident.key.startswith("sockets:")
    assert "(budget 1)" in alerts_of(staff)[0].title
    alerts_check()
    assert Incident.objects.get().resolved_at is not None


def test_beat_runs_the_alert_check_every_minute_on_the_urgent_queue():
    entry = PeriodicTask.objects.get(task="operations.tasks.check_alerts")
    assert entry.enabled and entry.queue == "urgent"
    assert (entry.interval.every, entry.interval.period) == (1, "minutes")
