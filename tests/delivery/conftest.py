"""Fixtures for delivery tests: real HTTP servers on loopback standing in for providers."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

from tests.smtp_server import SmtpServer


@dataclass
class ReceivedRequest:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = 0.0  # time.monotonic()
    client_port: int = 0  # one per TCP connection

    def json(self):
        return json.loads(self.body)


class ProviderServer:
    """A real HTTP server on 127.0.0.1 that answers from a script of status codes per path.

    ``answer(path, 503, 503)`` makes the next two requests to ``path`` fail; after the script
    runs out, requests get ``default_status``. Every request is recorded in ``requests``.
    """

    def __init__(self):
        self.requests: list[ReceivedRequest] = []
        self.default_status = 200
        self._scripts: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real providers offer

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with server._lock:
                    server.requests.append(
                        ReceivedRequest(
                            "POST",
                            self.path,
                            {name.lower(): value for name, value in self.headers.items()},
                            body,
                            time.monotonic(),
                            self.client_address[1],
                        )
                    )
                    number = len(server.requests)
                    script = server._scripts[self.path]
                    status = script.popleft() if script else server.default_status
                payload = json.dumps({"id": f"msg-{number}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Location", f"/messages/msg-{number}")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def answer(self, path: str, *statuses: int) -> None:
        with self._lock:
            self._scripts[path].extend(statuses)

    @property
    def connections(self) -> int:
        return len({request.client_port for request in self.requests})

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        return [request for request in self.requests if request.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def smtp_server(settings):
    """Django's SMTP email backend pointed at a local SMTP server."""
    server = SmtpServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    yield server
    server.close()


@pytest.fixture
def reader_client(db):
    """A logged-in user's browser; the user is ``client.user``."""
    from django.test import Client

    from tests.delivery.factories import UserFactory

    user = UserFactory()
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def provider_server():
    server = ProviderServer()
    yield server
    server.close()


@pytest.fixture
def second_provider_server():
    """Another provider on its own port (e.g. a second push service)."""
    server = ProviderServer()
    yield server
    server.close()


@pytest.fixture
def sms_provider(provider_server, settings):
    """The HTTP SMS backend pointed at a local server (``/sms``)."""
    settings.DELIVERY_BACKENDS = {
        **settings.DELIVERY_BACKENDS,
        "sms": "notifications.delivery.backends.sms.HttpSmsBackend",
    }
    settings.SMS_API_URL = provider_server.url("/sms")
    settings.SMS_API_KEY = "sms-test-key"
    settings.SMS_SENDER = "Herald"
    return provider_server


@pytest.fixture
def fast_retries(settings):
    """Retries due at once (no backoff) so eager tasks run the whole retry chain inline."""
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    settings.DELIVERY_MAX_ATTEMPTS = 4
    settings.DELIVERY_BREAKER_THRESHOLD = 100
    return settings


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def vapid(settings):
    """A fresh VAPID key pair from ``generate_vapid_keys``, configured as the environment would."""
    out = StringIO()
    call_command("generate_vapid_keys", stdout=out, stderr=StringIO())
    keys = dict(line.split("=", 1) for line in out.getvalue().split())
    settings.VAPID_PRIVATE_KEY = keys["VAPID_PRIVATE_KEY"]
    settings.VAPID_PUBLIC_KEY = keys["VAPID_PUBLIC_KEY"]
    settings.VAPID_SUBJECT = "mailto:ops@herald.test"
    # The push service in these tests is a local server: allow its host and address.
    settings.WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBPUSH_ALLOW_PRIVATE_ADDRESSES = True
    settings.DELIVERY_BACKENDS = {
        **settings.DELIVERY_BACKENDS,
        "push": "notifications.delivery.backends.webpush.WebPushBackend",
    }
    return keys


@pytest.fixture
def browser_keys():
    """What a browser's PushManager.subscribe() hands over: its P-256 public key and auth secret."""

    def make() -> dict[str, str]:
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": _b64url(public), "auth": _b64url(os.urandom(16))}

    return make
