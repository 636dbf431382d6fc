"""Firebase Cloud Messaging, HTTP v1 API, over HTTP/2.

``POST {FCM_URL}/v1/projects/<project>/messages:send`` with an OAuth2 access token that
google-auth obtains from the service-account key (``FCM_SERVICE_ACCOUNT_FILE`` or
``FCM_SERVICE_ACCOUNT_JSON``). The token is shared by the process and kept until shortly before
it expires; a 401 renews it once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from pathlib import Path

import httpx
import requests
from django.conf import settings
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account

from notifications.delivery.backends.h2client import TRANSPORT_ERRORS, Http2Client, Response
from notifications.delivery.backends.http2 import AsyncHttp2Backend, json_body, retry_after_seconds
from notifications.delivery.backends.messages import MobileMessage
from notifications.delivery.errors import DeliveryError, DeviceGone, PermanentDeliveryError

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM's error codes (details[].errorCode) that mean the registration token is dead for us.
GONE_CODES = {"UNREGISTERED", "SENDER_ID_MISMATCH"}


def _service_account_info() -> dict:
    raw = settings.FCM_SERVICE_ACCOUNT_JSON
    if not raw and settings.FCM_SERVICE_ACCOUNT_FILE:
        raw = Path(settings.FCM_SERVICE_ACCOUNT_FILE).read_text()
    if not raw:
        raise PermanentDeliveryError(
            "FCM_SERVICE_ACCOUNT_FILE / FCM_SERVICE_ACCOUNT_JSON are not configured"
        )
    return _parsed(raw)


@functools.lru_cache(maxsize=4)
def _parsed(raw: str) -> dict:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PermanentDeliveryError("The FCM service-account key is not JSON") from exc


class AccessToken:
    """The process's OAuth2 access token per service account, refreshed near its expiry."""

    _lock = threading.Lock()
    _credentials: dict[str, service_account.Credentials] = {}

    @classmethod
    def _auth_request(cls) -> GoogleAuthRequest:
        session = requests.Session()
        if settings.MOBILE_PUSH_CA_FILE:
            # Per call: a session-wide ``verify`` loses to REQUESTS_CA_BUNDLE in the environment.
            session.request = functools.partial(
                session.request, verify=settings.MOBILE_PUSH_CA_FILE
            )
        return GoogleAuthRequest(session=session)

    @classmethod
    def _account(cls) -> tuple[str, str, dict]:
        """(cache key, project id, service-account info) from the settings."""
        info = _service_account_info()
        project = settings.FCM_PROJECT_ID or info.get("project_id", "")
        if not project:
            raise PermanentDeliveryError("FCM_PROJECT_ID is not configured")
        return f"{info.get('client_email')}|{info.get('private_key_id')}", project, info

    @classmethod
    def cached(cls) -> tuple[str, str] | None:
        """(access token, project id) if a valid token is at hand, else None. Never blocks, so
        the sends on the event loop take it without a hop to a thread."""
        key, project, _ = cls._account()
        with cls._lock:
            credentials = cls._credentials.get(key)
            if credentials is not None and credentials.valid:
                return credentials.token, project
        return None

    @classmethod
    def get(cls, *, force_after: str | None = None) -> tuple[str, str]:
        """(access token, project id). Blocking (google-auth uses requests): call it off the
        event loop."""
        key, project, info = cls._account()
        with cls._lock:
            credentials = cls._credentials.get(key)
            if credentials is None:
                try:
                    credentials = service_account.Credentials.from_service_account_info(
                        info, scopes=[SCOPE]
                    )
                except (ValueError, KeyError) as exc:
                    raise PermanentDeliveryError(f"Bad FCM service-account key: {exc}") from exc
                cls._credentials[key] = credentials
            # ``valid`` is False a few minutes before the expiry google-auth was told.
            if not credentials.valid or (force_after and credentials.token == force_after):
                try:
                    credentials.refresh(cls._auth_request())
                except Exception as exc:  # google.auth.exceptions.* and transport errors
                    raise DeliveryError(f"FCM OAuth2 token: {type(exc).__name__}: {exc}") from exc
            return credentials.token, project

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._credentials.clear()


def fcm_message(message: MobileMessage) -> dict:
    data = {**message.data, "url": message.url}
    notification = {"title": message.title, "body": message.body}
    android_notification: dict = {}
    if message.badge is not None:
        android_notification["notification_count"] = message.badge
    if message.collapse_key:
        android_notification["tag"] = message.collapse_key[:64]
    if message.sound:
        android_notification["sound"] = message.sound
    android: dict = {
        "priority": "HIGH" if message.urgent else "NORMAL",
        "ttl": f"{message.ttl}s",
        "notification": android_notification,
    }
    if message.collapse_key:
        android["collapse_key"] = message.collapse_key[:64]
    if message.app_id:
        android["restricted_package_name"] = message.app_id
    return {
        "message": {
            "token": message.token,
            "notification": notification,
            "data": {key: str(value) for key, value in data.items()},
            "android": android,
        }
    }


def _error(response: Response) -> tuple[str, str]:
    """(FCM error code, message) from Google's error body."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return "", response.text[:200]
    code = error.get("status", "")
    for detail in error.get("details", []) or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = detail["errorCode"]
    return code, str(error.get("message", ""))[:200]


class FcmBackend(AsyncHttp2Backend):
    channel = "mobile"

    def __init__(self):
        super().__init__()
        self._token_lock: asyncio.Lock | None = None

    @property
    def provider(self) -> str:
        return f"fcm:{httpx.URL(settings.FCM_URL).host}"

    def provider_for(self, address: str) -> str:
        return self.provider

    async def _access_token(self, force_after: str | None = None) -> tuple[str, str]:
        if force_after is None and (cached := AccessToken.cached()) is not None:
            return cached
        # One refresh at a time per loop; the others find the fresh token in the cache.
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            return await asyncio.to_thread(AccessToken.get, force_after=force_after)

    async def deliver(self, client: Http2Client, message: MobileMessage) -> str:
        body = json_body(fcm_message(message))
        token, project = await self._access_token()
        url = f"{settings.FCM_URL.rstrip('/')}/v1/projects/{project}/messages:send"
        for attempt in (1, 2):
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            try:
                response = await client.post(url, content=body, headers=headers)
            except TRANSPORT_ERRORS as exc:
                raise DeliveryError(f"FCM: {type(exc).__name__}: {exc}") from exc
            if response.status_code == 401 and attempt == 1:
                token, project = await self._access_token(force_after=token)
                continue
            break
        status = response.status_code
        if status == 200:
            try:
                return str(response.json().get("name", ""))
            except (ValueError, AttributeError):
                return ""
        code, detail = _error(response)
        if code in GONE_CODES or (
            code == "INVALID_ARGUMENT" and "registration token" in detail.lower()
        ):
            raise DeviceGone(f"FCM: registration token gone ({status} {code})")
        if status == 429 or status >= 500:
            raise DeliveryError(
                f"FCM answered {status} {code}: {detail}", retry_after=retry_after_seconds(response)
            )
        raise PermanentDeliveryError(f"FCM rejected ({status} {code}): {detail}")
