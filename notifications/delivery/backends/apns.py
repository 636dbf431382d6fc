"""Apple Push Notification service, token-based authentication, over HTTP/2.

``POST {APNS_URL}/3/device/<token>`` with ``authorization: bearer <JWT>``: an ES256 token signed
with the team's ``.p8`` key (``kid`` = ``APNS_KEY_ID``, ``iss`` = ``APNS_TEAM_ID``, ``iat``).
Apple refuses tokens older than an hour and more than one new token per 20 minutes, so one
token per key is shared by the whole process and renewed after ``APNS_TOKEN_REFRESH_SECONDS``
(50 minutes by default), or at once when Apple answers ``ExpiredProviderToken``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
from django.conf import settings

from notifications.delivery.backends.h2client import TRANSPORT_ERRORS, Http2Client, Response
from notifications.delivery.backends.http2 import AsyncHttp2Backend, json_body, retry_after_seconds
from notifications.delivery.backends.messages import MobileMessage
from notifications.delivery.errors import DeliveryError, DeviceGone, PermanentDeliveryError

# Reasons that mean the token itself is dead (Apple's documented "stop sending" answers).
GONE_REASONS = {"Unregistered", "BadDeviceToken", "ExpiredToken"}
# Reasons that mean the provider token (JWT) must be renewed.
TOKEN_REASONS = {"ExpiredProviderToken", "InvalidProviderToken"}
COLLAPSE_ID_MAX_BYTES = 64


def collapse_id(key: str) -> str:
    """``apns-collapse-id`` is at most 64 bytes: longer keys are replaced by their hash."""
    if len(key.encode()) <= COLLAPSE_ID_MAX_BYTES:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _private_key() -> str:
    value = settings.APNS_PRIVATE_KEY
    if not value:
        raise PermanentDeliveryError("APNS_PRIVATE_KEY / APNS_KEY_ID / APNS_TEAM_ID are not configured")
    if "-----BEGIN" in value:
        return value.replace("\\n", "\n")
    return Path(value).read_text()


class ProviderToken:
    """The process's current JWT for one signing key, renewed before Apple would refuse it."""

    _lock = threading.Lock()
    _tokens: dict[tuple[str, str], tuple[str, float]] = {}

    @classmethod
    def get(cls, *, force_after: str | None = None) -> str:
        """The current token; ``force_after`` = a token Apple refused: make a new one unless
        another sender already did."""
        key_id, team_id = settings.APNS_KEY_ID, settings.APNS_TEAM_ID
        if not (key_id and team_id):
            raise PermanentDeliveryError("APNS_KEY_ID / APNS_TEAM_ID are not configured")
        now = time.time()
        with cls._lock:
            token, issued_at = cls._tokens.get((key_id, team_id), ("", 0.0))
            stale = now - issued_at >= settings.APNS_TOKEN_REFRESH_SECONDS
            if not token or stale or (force_after is not None and token == force_after):
                token = jwt.encode(
                    {"iss": team_id, "iat": int(now)},
                    _private_key(),
                    algorithm="ES256",
                    headers={"kid": key_id},
                )
                cls._tokens[(key_id, team_id)] = (token, now)
            return token

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._tokens.clear()


def apns_payload(message: MobileMessage) -> dict:
    alert = {"title": message.title, "body": message.body}
    aps: dict = {"alert": alert}
    if message.badge is not None:
        aps["badge"] = message.badge
    if message.sound:
        aps["sound"] = message.sound
    if message.collapse_key:
        aps["thread-id"] = message.kind or "herald"
    return {"aps": aps, "url": message.url, **message.data}


class ApnsBackend(AsyncHttp2Backend):
    channel = "mobile"

    @property
    def provider(self) -> str:
        return f"apns:{httpx.URL(settings.APNS_URL).host}"

    def provider_for(self, address: str) -> str:
        return self.provider

    def _headers(self, message: MobileMessage, token: str) -> dict[str, str]:
        topic = message.app_id or settings.APNS_TOPIC
        if not topic:
            raise PermanentDeliveryError("APNS_TOPIC is not configured and the device has no app id")
        headers = {
            "authorization": f"bearer {token}",
            "apns-topic": topic,
            "apns-push-type": "alert",
            # 10 = at once; 5 = when the device's power allows.
            "apns-priority": "10" if message.urgent else "5",
            "apns-expiration": str(int(time.time()) + message.ttl),
        }
        if message.collapse_key:
            headers["apns-collapse-id"] = collapse_id(message.collapse_key)
        return headers

    async def deliver(self, client: Http2Client, message: MobileMessage) -> str:
        url = f"{settings.APNS_URL.rstrip('/')}/3/device/{quote(message.token, safe='')}"
        body = json_body(apns_payload(message))
        token = ProviderToken.get()
        for attempt in (1, 2):
            try:
                response = await client.post(url, content=body, headers=self._headers(message, token))
            except TRANSPORT_ERRORS as exc:
                raise DeliveryError(f"APNs: {type(exc).__name__}: {exc}") from exc
            status = response.status_code
            if status == 200:
                return response.headers.get("apns-id", "")
            reason = _reason(response)
            if status == 403 and reason in TOKEN_REASONS and attempt == 1:
                token = ProviderToken.get(force_after=token)
                continue
            break
        if status == 410 or reason in GONE_REASONS:
            raise DeviceGone(f"APNs: device token gone ({status} {reason})")
        if status == 429 or status >= 500:
            raise DeliveryError(
                f"APNs answered {status} {reason}", retry_after=retry_after_seconds(response)
            )
        raise PermanentDeliveryError(f"APNs rejected ({status} {reason})")


def _reason(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""
