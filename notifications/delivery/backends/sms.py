"""SMS: a generic JSON-over-HTTP provider, and a console backend for development."""

from __future__ import annotations

import itertools
import sys

import httpx
from django.conf import settings

from notifications.delivery.backends.base import DeliveryBackend
from notifications.delivery.backends.messages import SmsMessage
from notifications.delivery.errors import DeliveryError, PermanentDeliveryError


class HttpSmsBackend(DeliveryBackend):
    """``POST SMS_API_URL`` with ``{"to", "body", "from"}`` and ``Authorization: Bearer SMS_API_KEY``.

    2xx is sent (the id comes from the JSON ``id`` or ``message_id``); 429, 5xx and network errors
    are retried; any other 4xx is permanent (a bad number will not become good). One HTTP client
    (kept-alive connection) serves a whole batch.
    """

    channel = "sms"

    def __init__(self):
        self._client: httpx.Client | None = None

    @property
    def provider(self) -> str:
        return f"sms:{httpx.URL(settings.SMS_API_URL).host}"

    def send(self, message: SmsMessage) -> str:
        if not settings.SMS_API_URL:
            raise PermanentDeliveryError("SMS_API_URL is not configured")
        payload = {"to": message.to, "body": message.text}
        if settings.SMS_SENDER:
            payload["from"] = settings.SMS_SENDER
        if self._client is None:
            self._client = httpx.Client(timeout=settings.SMS_API_TIMEOUT_SECONDS)
        try:
            response = self._client.post(
                settings.SMS_API_URL,
                json=payload,
                headers={"Authorization": f"Bearer {settings.SMS_API_KEY}"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise DeliveryError(f"SMS provider answered {status}: {response.text[:200]}")
        if status >= 400:
            raise PermanentDeliveryError(f"SMS provider rejected ({status}): {response.text[:200]}")
        try:
            body = response.json()
        except ValueError:
            return ""
        return str(body.get("id") or body.get("message_id") or "") if isinstance(body, dict) else ""

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class ConsoleSmsBackend(DeliveryBackend):
    """Prints each SMS to stdout, like Django's console email backend."""

    channel = "sms"
    _ids = itertools.count(1)

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, message: SmsMessage) -> str:
        self.stream.write(f"SMS to {message.to}: {message.text}\n")
        self.stream.flush()
        return f"console-{next(self._ids)}"
