"""Web push with nothing configured: the embedded server makes its own VAPID key pair, a browser
subscribes, and a notification arrives as a system notification shown by the service worker.

The server is the embedded default (``manage.py serve`` with no REDIS_URL and no VAPID_*; only
the key file is put in a temporary folder). Chromium's own push service (Google's) is out of
reach here, so the page's ``PushManager.subscribe`` answers with an endpoint on a local push
service over HTTPS, with keys this test holds. That service checks what a real one does (the
VAPID JWT signed by the key the page was given, the aes128gcm body) and decrypts the message as
the browser would, and DevTools hands it to the service worker (``deliverPushMessage``), which
shows it. Everything in Herald between the click and the notification is real.
"""

import base64
import json
import os
import queue
import re
import secrets
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect

from tests.smoke.test_embedded_mode import ROOT, free_port, wait_until_ready

pytestmark = pytest.mark.browser


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LocalPushService:
    """An HTTPS push service on loopback that decrypts what it receives, like a browser."""

    def __init__(self, ca: trustme.CA):
        self.browser_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = secrets.token_bytes(16)
        self.received: queue.Queue = queue.Queue()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    service.received.put(service.open({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(201)
                    self.send_header("Location", f"https://127.0.0.1/messages/{secrets.token_hex(4)}")
                except Exception as error:  # the test reads the reason from the queue
                    service.received.put(error)
                    self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/push/browser-1"

    def subscription_keys(self) -> dict:
        public = self.browser_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    def open(self, headers: dict, body: bytes) -> dict:
        """Check the VAPID signature and decrypt the aes128gcm body; the claims and payload."""
        assert headers.get("content-encoding") == "aes128gcm", headers
        token, key = re.fullmatch(r"vapid t=([^,\s]+),\s*k=(\S+)", headers["authorization"]).groups()
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        claims = jwt.decode(token, server_key, algorithms=["ES256"], audience=self.endpoint.split("/push")[0])
        payload = http_ece.decrypt(body, private_key=self.browser_key, auth_secret=self.auth,
                                   version="aes128gcm")
        return {"claims": claims, "vapid_key": key, "payload": json.loads(payload)}

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def push_service():
    ca = trustme.CA()
    service = LocalPushService(ca)
    service.ca = ca
    yield service
    service.close()


@pytest.fixture(scope="module")
def embedded_default(tmp_path_factory, push_service):
    """``manage.py serve`` as ``make run`` starts it: no REDIS_URL, no VAPID keys."""
    tmp = tmp_path_factory.mktemp("webpush")
    ca_file = tmp / "push-ca.pem"
    push_service.ca.cert_pem.write_to_path(str(ca_file))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": f"sqlite:///{tmp / 'herald.sqlite3'}",
        "VAPID_KEY_FILE": str(tmp / "vapid-keys.json"),
        # The local push service: on loopback, behind a private CA.
        "WEBPUSH_ALLOWED_HOSTS": "127.0.0.1",
        "WEBPUSH_ALLOW_PRIVATE_ADDRESSES": "true",
        "REQUESTS_CA_BUNDLE": str(ca_file),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "--noinput"], ["load_demo_data"]):
        done = subprocess.run(manage + command, env=env, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    # One more process start (seconds on a busy machine) makes the API key and finds alice.
    api_key, alice_id = subprocess.run(
        manage + ["shell", "-c", "from django.contrib.auth.models import User; "
                  "from notifications.api.services import api_key_create; "
                  "print(api_key_create(name='browser-test', allow_urgent=True)[1], "
                  "User.objects.get(username='alice').pk)"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()[-2:]
    port = free_port()
    log = open(tmp / "server.log", "w+")
    process = subprocess.Popen(manage + ["serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process)
        yield {"url": base_url, "api_key": api_key, "alice_id": int(alice_id),
               "key_file": tmp / "vapid-keys.json"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read()[-4000:])
        log.close()


SUBSCRIBE_WITH_LOCAL_SERVICE = """
PushManager.prototype.subscribe = function (options) {
  window.__applicationServerKey = btoa(String.fromCharCode.apply(null, options.applicationServerKey));
  return Promise.resolve({ toJSON: () => (%s) });
};
"""


def test_a_browser_subscribes_and_shows_a_push_with_nothing_configured(
    browser, embedded_default, push_service
):
    server = embedded_default["url"]
    context = browser.new_context(base_url=server)
    context.grant_permissions(["notifications"], origin=server)
    subscription = {"endpoint": push_service.endpoint, "keys": push_service.subscription_keys()}
    context.add_init_script(SUBSCRIBE_WITH_LOCAL_SERVICE % json.dumps(subscription))
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "herald-demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))

    page.goto("/notifications/preferences/")
    page.get_by_role("button", name="Enable push notifications").click()
    expect(page.locator("[data-push-status]")).to_have_text(
        "Push notifications are on for this browser."
    )
    generated = json.loads(embedded_default["key_file"].read_text())
    assert oct(embedded_default["key_file"].stat().st_mode & 0o777) == "0o600"
    given = b64url(base64.b64decode(page.evaluate("window.__applicationServerKey")))
    assert given == generated["public_key"]
    page.reload()
    expect(page.locator('#channel-reach [data-channel="push"]')).to_contain_text("reaches you")

    page.wait_for_function(
        "navigator.serviceWorker && navigator.serviceWorker.controller !== null", polling=100
    )
    devtools = context.new_cdp_session(page)
    registrations = []
    devtools.on("ServiceWorker.workerRegistrationUpdated",
                lambda event: registrations.extend(event["registrations"]))
    devtools.send("ServiceWorker.enable")

    response = httpx.post(
        f"{server}/api/v1/notifications",
        headers={"X-Api-Key": embedded_default["api_key"], "Idempotency-Key": "picnic-cancelled"},
        json={"kind": "event_cancelled", "recipients": [embedded_default["alice_id"]],
              "context": {"event_title": "Summer picnic"}, "url": "/events/7/"},
    )
    assert response.status_code == 201, response.text
    pushed = push_service.received.get(timeout=30)
    assert not isinstance(pushed, Exception), pushed
    assert pushed["vapid_key"] == generated["public_key"]
    assert pushed["claims"]["sub"].startswith("mailto:")
    assert pushed["payload"]["title"] == "Summer picnic is cancelled"

    for _ in range(50):  # DevTools events are read while Playwright waits
        if any(r["scopeURL"] == server + "/" for r in registrations):
            break
        page.wait_for_timeout(100)
    registration = next(r for r in registrations if r["scopeURL"] == server + "/")
    devtools.send("ServiceWorker.deliverPushMessage", {
        "origin": server,
        "registrationId": registration["registrationId"],
        "data": json.dumps(pushed["payload"]),
    })
    shown = []
    for _ in range(50):  # the worker shows it asynchronously: ask until it is there
        shown = page.evaluate(
            """() => navigator.serviceWorker.ready
                  .then(r => r.getNotifications())
                  .then(list => list.map(n => [n.title, n.data.url]))"""
        )
        if shown:
            break
        page.wait_for_timeout(100)
    assert shown == [["Summer picnic is cancelled", "http://127.0.0.1:8000/events/7/"]]

    manifest = httpx.get(f"{server}/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    icons = manifest.json()["icons"]
    assert {icon["sizes"] for icon in icons} == {"192x192", "512x512"}
    assert httpx.get(server + icons[0]["src"]).headers["content-type"] == "image/png"
    context.close()
