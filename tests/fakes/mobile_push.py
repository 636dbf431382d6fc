"""Local stand-ins for Apple's and Google's push services, over HTTP/2 with TLS.

One ASGI app served by hypercorn with a self-signed certificate (trustme):

- APNs: ``POST /3/device/<token>``. Checks the request as Apple does: HTTP/2 only, a
  ``bearer`` ES256 JWT whose signature verifies with the team key, ``kid``/``iss`` as configured
  and ``iat`` under an hour old (else ``403 ExpiredProviderToken``), ``apns-topic``,
  ``apns-push-type``, ``apns-priority`` 5 or 10, ``apns-collapse-id`` at most 64 bytes, a JSON
  body with ``aps.alert`` of at most 4 KB. Answers ``200`` with an ``apns-id``, or Apple's error
  bodies (``{"reason": "BadDeviceToken"}``, ``410 {"reason": "Unregistered", "timestamp": ...}``).
- OAuth2 (Google's token endpoint): ``POST /token`` with the service account's RS256 assertion,
  verified against its public key, audience and scope; answers an access token valid an hour.
- FCM HTTP v1: ``POST /v1/projects/<project>/messages:send`` with ``Bearer`` one of those
  tokens and a ``message`` of the v1 shape (``data`` values strings). Answers
  ``{"name": "projects/<p>/messages/<id>"}`` or FCM's error bodies (``UNREGISTERED``,
  ``QUOTA_EXCEEDED`` with ``Retry-After``, ``UNAVAILABLE``).

Scripted answers per device token: ``server.script(token, (status, body, headers), ...)``;
``server.gone(token)`` makes a token unregistered for good. Every request is recorded.
Run ``python -m tests.fakes.mobile_push DIR`` to serve it from another process (the
benchmark): it writes ``DIR/fake-push.json`` with the URLs, keys and CA file, then serves.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

APNS_KEY_ID = "ABC123DEFG"
APNS_TEAM_ID = "DEF123GHIJ"
APNS_TOPIC = "org.herald.app"
FCM_PROJECT = "herald-test"
FCM_CLIENT_EMAIL = "push@herald-test.iam.gserviceaccount.com"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# Google's token endpoint expects its own URL as the assertion's audience, wherever it is posted.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass
class Received:
    service: str  # "apns" | "fcm" | "oauth"
    path: str
    headers: dict[str, str]
    body: bytes
    http_version: str
    connection: tuple
    token: str = ""  # the device token for apns/fcm

    def json(self):
        return json.loads(self.body)

    def jwt_claims(self) -> dict:
        return jwt.decode(self.headers["authorization"].split()[1], options={"verify_signature": False})


def _pem(key, public=False) -> str:
    if public:
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class FakePushServer:
    host: str = "127.0.0.1"
    port: int = 0
    delay: float = 0.0  # seconds each APNs/FCM answer waits (to see concurrent streams)
    max_streams: int = 1000  # SETTINGS_MAX_CONCURRENT_STREAMS it announces
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._scripts: dict[str, deque] = defaultdict(deque)
        self._gone: set[str] = set()
        self._access_tokens: dict[str, float] = {}
        self._expired_jwts: set[str] = set()
        self._verified_jwts: dict[str, tuple[dict, dict]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.apns_key = ec.generate_private_key(ec.SECP256R1())
        self.fcm_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fcm_key_id = uuid.uuid4().hex
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    # --- what a test configures ------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def apns_private_key_pem(self) -> str:
        return _pem(self.apns_key)

    def service_account(self) -> dict:
        return {
            "type": "service_account",
            "project_id": FCM_PROJECT,
            "private_key_id": self.fcm_key_id,
            "private_key": _pem(self.fcm_key),
            "client_email": FCM_CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }

    def write_ca(self, path: Path) -> str:
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def script(self, token: str, *answers: tuple) -> None:
        """The next answers for ``token``: ``(status, body_dict, headers_dict)`` each."""
        with self._lock:
            self._scripts[token].extend(answers)

    def gone(self, token: str) -> None:
        with self._lock:
            self._gone.add(token)

    def expire_provider_tokens(self) -> None:
        """APNs refuses every JWT seen so far with ``403 ExpiredProviderToken``."""
        with self._lock:
            self._expired_jwts.update(
                r.headers["authorization"].split()[1] for r in self.requests if r.service == "apns"
            )

    def to(self, service: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.service == service]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._scripts.clear()
            self._gone.clear()
            self._expired_jwts.clear()
            self.max_in_flight = 0

    # --- the ASGI app ----------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        if path.startswith("/3/device/"):
            service, token = "apns", path.removeprefix("/3/device/")
        elif path == "/token":
            service, token = "oauth", ""
        elif path.startswith("/v1/projects/") and path.endswith("/messages:send"):
            service = "fcm"
            try:
                token = json.loads(body)["message"]["token"]
            except (ValueError, KeyError, TypeError):
                token = ""
        else:
            return await self._answer(send, 404, {"error": "not found"})
        received = Received(service, path, headers, body, scope.get("http_version", ""),
                            tuple(scope.get("client") or ()), token)
        with self._lock:
            self.requests.append(received)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay and service != "oauth":
                await asyncio.sleep(self.delay)
            handler = {"apns": self._apns, "oauth": self._oauth, "fcm": self._fcm}[service]
            status, payload, extra = handler(received)
        finally:
            with self._lock:
                self.in_flight -= 1
        await self._answer(send, status, payload, extra)

    async def _answer(self, send, status, payload, extra=None):
        data = b"" if payload is None else json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), str(v).encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _scripted(self, token: str):
        with self._lock:
            queue = self._scripts.get(token)
            if queue:
                answer = queue.popleft()
                return answer if len(answer) == 3 else (*answer, {})
        return None

    def _apns(self, r: Received):
        if r.http_version != "2":
            return 400, {"reason": "BadRequest"}, {}  # APNs speaks HTTP/2 only
        auth = r.headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return 403, {"reason": "MissingProviderToken"}, {}
        provider_token = auth.split(" ", 1)[1]
        verified = self._verified_jwts.get(provider_token)
        if verified is None:
            try:
                header = jwt.get_unverified_header(provider_token)
                claims = jwt.decode(provider_token, _pem(self.apns_key, public=True),
                                    algorithms=["ES256"], options={"verify_iat": False})
            except jwt.PyJWTError:
                return 403, {"reason": "InvalidProviderToken"}, {}
            # A token's signature is checked once, as Apple does; its age on every request.
            with self._lock:
                self._verified_jwts[provider_token] = verified = (header, claims)
        header, claims = verified
        if header.get("kid") != APNS_KEY_ID or claims.get("iss") != APNS_TEAM_ID:
            return 403, {"reason": "InvalidProviderToken"}, {}
        with self._lock:
            refused = provider_token in self._expired_jwts
        if refused or time.time() - claims.get("iat", 0) > 3600:
            return 403, {"reason": "ExpiredProviderToken"}, {}
        if not r.headers.get("apns-topic"):
            return 400, {"reason": "MissingTopic"}, {}
        if r.headers.get("apns-push-type") not in ("alert", "background", "voip"):
            return 400, {"reason": "InvalidPushType"}, {}
        if r.headers.get("apns-priority") not in ("5", "10"):
            return 400, {"reason": "BadPriority"}, {}
        if len(r.headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, {"reason": "BadCollapseId"}, {}
        if len(r.body) > 4096:
            return 413, {"reason": "PayloadTooLarge"}, {}
        try:
            aps = json.loads(r.body)["aps"]
            assert isinstance(aps["alert"]["title"], str) and isinstance(aps["alert"]["body"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, {"reason": "PayloadEmpty"}, {}
        scripted = self._scripted(r.token)
        if scripted:
            return scripted
        if r.token in self._gone:
            return 410, {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}, {}
        if len(r.token) != 64 or any(c not in "0123456789abcdef" for c in r.token):
            return 400, {"reason": "BadDeviceToken"}, {}
        return 200, None, {"apns-id": str(uuid.uuid4()).upper()}

    def _oauth(self, r: Received):
        form = {k: v[0] for k, v in parse_qs(r.body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}, {}
        try:
            claims = jwt.decode(form.get("assertion", ""), _pem(self.fcm_key, public=True),
                                algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE)
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}, {}
        if claims.get("iss") != FCM_CLIENT_EMAIL or FCM_SCOPE not in claims.get("scope", ""):
            return 400, {"error": "invalid_scope"}, {}
        access = f"ya29.fake-{next(self._ids)}"
        with self._lock:
            self._access_tokens[access] = time.time() + 3600
        return 200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}, {}

    def _fcm(self, r: Received):
        auth = r.headers.get("authorization", "")
        access = auth.removeprefix("Bearer ")
        with self._lock:
            valid_until = self._access_tokens.get(access, 0)
        if not auth.startswith("Bearer ") or valid_until < time.time():
            return 401, _fcm_error(401, "UNAUTHENTICATED",
                                   "Request had invalid authentication credentials."), {}
        if r.path != f"/v1/projects/{FCM_PROJECT}/messages:send":
            return 403, _fcm_error(403, "PERMISSION_DENIED", "Permission denied."), {}
        try:
            message = json.loads(r.body)["message"]
            assert isinstance(message["token"], str)
            assert set(message["notification"]) <= {"title", "body", "image"}
            assert all(isinstance(v, str) for v in message.get("data", {}).values())
            assert message.get("android", {}).get("priority", "NORMAL") in ("HIGH", "NORMAL")
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, _fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.",
                                   "INVALID_ARGUMENT"), {}
        scripted = self._scripted(r.token)
        if scripted:
            return scripted
        if r.token in self._gone:
            return 404, _fcm_error(404, "NOT_FOUND", "Requested entity was not found.",
                                   "UNREGISTERED"), {}
        return 200, {"name": f"projects/{FCM_PROJECT}/messages/0:{next(self._ids)}"}, {}

    # --- serving -----------------------------------------------------------------------------

    def _config(self):
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"{self.host}:{self.port}"]
        cert_file = self._cert.cert_chain_pems[0]
        key_file = self._cert.private_key_pem
        self._tmp = Path(__import__("tempfile").mkdtemp(prefix="fake-push-"))
        cert_file.write_to_path(str(self._tmp / "cert.pem"))
        key_file.write_to_path(str(self._tmp / "key.pem"))
        config.certfile = str(self._tmp / "cert.pem")
        config.keyfile = str(self._tmp / "key.pem")
        config.alpn_protocols = ["h2", "http/1.1"]
        config.h2_max_concurrent_streams = self.max_streams
        config.keep_alive_timeout = 60
        # Apple and Google keep a connection for any number of pushes; hypercorn's default
        # closes it after 1,000 requests, cutting the streams in flight.
        config.keep_alive_max_requests = 10**9
        config.accesslog = None
        config.errorlog = None
        return config

    async def serve(self, ready: threading.Event | None = None):
        from hypercorn.asyncio import serve

        import socket

        if not self.port:
            with socket.socket() as sock:
                sock.bind((self.host, 0))
                self.port = sock.getsockname()[1]
        self._stop = asyncio.Event()
        config = self._config()
        task = asyncio.ensure_future(serve(self, config, shutdown_trigger=self._stop.wait))
        # Ready once the port accepts connections.
        while True:
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        if ready is not None:
            ready.set()
        await task

    def start(self) -> FakePushServer:
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve(ready))

        self._thread = threading.Thread(target=run, name="fake-push", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("fake push server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)


def _fcm_error(code: int, status: str, message: str, error_code: str | None = None) -> dict:
    error = {"code": code, "message": message, "status": status}
    if error_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                             "errorCode": error_code}]
    return {"error": error}


def main(directory: str) -> None:
    """Serve in this process; describe how to reach it in ``<directory>/fake-push.json``."""
    server = FakePushServer()
    out = Path(directory)

    async def run():
        ready = threading.Event()
        serving = asyncio.ensure_future(server.serve(ready))
        while not ready.is_set():
            await asyncio.sleep(0.02)
        info = {
            "url": server.url,
            "ca_file": server.write_ca(out / "fake-push-ca.pem"),
            "apns_private_key": server.apns_private_key_pem,
            "service_account": server.service_account(),
        }
        (out / "fake-push.json").write_text(json.dumps(info))
        print("ready", flush=True)
        await serving

    asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1])
