"""Only links on this site are stored, rendered and opened."""

import json
import shutil
import subprocess

import pytest
from django.conf import settings

from notifications.realtime.consumers import render_pushed
from notifications.delivery.rendering import absolute_url
from notifications.models import Notification
from notifications.services import notify
from tests.delivery.factories import UserFactory

from .test_payload_limits import api_post  # noqa: F401

pytestmark = pytest.mark.django_db

UNSAFE = [
    "javascript:alert(document.cookie)",
    " javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/login",
    "//evil.example/login",
    "/\\evil.example/login",
    "http://127.0.0.1:8000@evil.example/",
]


@pytest.mark.parametrize("url", UNSAFE)
def test_the_api_refuses_a_link_off_this_site(api_post, url):  # noqa: F811
    response = api_post({"kind": "event_updated", "recipients": [UserFactory().pk], "url": url})

    assert response.status_code == 400
    assert "url must be a path on this site" in response.json()["detail"]
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "url", ["/events/12/", "http://127.0.0.1:8000/events/12/", "https://docs.herald.test/help"]
)
def test_the_api_accepts_paths_this_origin_and_allowed_hosts(api_post, settings, url):  # noqa: F811
    settings.NOTIFICATION_URL_ALLOWED_HOSTS = ["docs.herald.test"]

    response = api_post({"kind": "event_updated", "recipients": [UserFactory().pk], "url": url})

    assert response.status_code == 201, response.json()
    assert Notification.objects.get().url == url


def test_notify_refuses_a_link_off_this_site():
    with pytest.raises(ValueError):
        notify(kind="event_updated", recipients=[UserFactory()], url="javascript:alert(1)")


@pytest.mark.parametrize("url", UNSAFE)
def test_a_stored_unsafe_link_is_neither_rendered_nor_sent(url):
    event = {"id": 7, "priority": "normal", "kind": "event_updated", "title": "T", "body": "",
             "url": url, "unread": 1}
    urgent = {**event, "priority": "urgent"}

    html = render_pushed([event, urgent], 1)

    assert html.count('href="/notifications/"') == 2
    assert "evil" not in html and "javascript" not in html.lower() and "data:" not in html
    assert absolute_url(url) == "http://127.0.0.1:8000/"


NODE_SCRIPT = """
const fs = require("fs");
const self = { location: { origin: "http://127.0.0.1:8000" }, addEventListener: () => {} };
const source = fs.readFileSync(process.argv[1], "utf8");
const sameOriginTarget = new Function("self", source + "; return sameOriginTarget;")(self);
console.log(JSON.stringify(JSON.parse(process.argv[2]).map(sameOriginTarget)));
"""


@pytest.mark.skipif(not shutil.which("node"), reason="needs node to run static/sw.js")
def test_the_service_worker_opens_only_this_sites_pages():
    urls = [*UNSAFE, "/events/12/", "http://127.0.0.1:8000/events/3/", None]

    result = subprocess.run(
        ["node", "-e", NODE_SCRIPT, str(settings.BASE_DIR / "static" / "sw.js"), json.dumps(urls)],
        capture_output=True, text=True, timeout=30, check=True,
    )

    center = "http://127.0.0.1:8000/notifications/"
    assert json.loads(result.stdout) == [center] * len(UNSAFE) + [
        "http://127.0.0.1:8000/events/12/", "http://127.0.0.1:8000/events/3/", center,
    ]
