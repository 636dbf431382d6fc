from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from notifications.kinds import EVENT_UPDATED
from notifications.models import QuietHours
from notifications.services import notify

UTC = ZoneInfo("UTC")


def jan(day, hour, minute=0):
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "now", "expected_end"),
    [
        (time(22), time(7), jan(5, 23, 30), jan(6, 7)),  # wraps midnight: ends tomorrow
        (time(22), time(7), jan(6, 6, 59), jan(6, 7)),  # after midnight: ends today
        (time(22), time(7), jan(6, 7), None),  # the end itself is outside
        (time(22), time(7), jan(6, 12), None),
        (time(13), time(14), jan(6, 13, 30), jan(6, 14)),  # same-day window
        (time(9), time(9), jan(6, 9), None),  # an empty window never applies
    ],
)
def test_quiet_hours_window_end(start, end, now, expected_end):
    assert QuietHours(start=start, end=end, time_zone="UTC").window_end(now) == expected_end


def test_quiet_hours_follow_the_users_time_zone():
    quiet = QuietHours(start=time(22), end=time(7), time_zone="Europe/Berlin")
    # 21:30 UTC is 22:30 in Berlin (winter, UTC+1): inside, ending 06:00 UTC.
    now = datetime(2026, 1, 5, 21, 30, tzinfo=UTC)
    assert quiet.window_end(now) == datetime(2026, 1, 6, 6, tzinfo=UTC)


def render_badge(user):
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load notification_tags %}{% notification_badge %}")
    return template.render(Context({"request": request}))


@pytest.mark.django_db
def test_nav_badge_shows_the_count_hidden_at_zero_and_99_plus(
    alice, bob, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1000
    assert " hidden" in render_badge(alice)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(99):
            notify(kind=EVENT_UPDATED, recipients=[alice], context={}, dedupe_key=f"k{n}")
    assert ">99</span>" in render_badge(alice)
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind=EVENT_UPDATED, recipients=[alice, bob], context={}, dedupe_key="one-more")
    assert ">99+</span>" in render_badge(alice)
    assert "hidden" not in render_badge(alice)
