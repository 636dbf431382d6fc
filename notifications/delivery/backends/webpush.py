"""Web push through pywebpush, signed with the VAPID key pair from the environment."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import requests
from django.conf import settings
from pywebpush import WebPushException, webpush

from notifications.delivery import vapid
from notifications.delivery.backends.base import DeliveryBackend
from notifications.delivery.backends.messages import PushMessage
from notifications.delivery.endpoints import (
    EndpointRefused,
    EndpointUnresolved,
    check_push_endpoint,
)
from notifications.delivery.errors import DeliveryError, PermanentDeliveryError


class SubscriptionGone(PermanentDeliveryError):
    """The push service says this browser subscription no longer exists (404/410): delete it."""


class SubscriptionRefused(SubscriptionGone):
    """The endpoint is not a push service Herald sends to (a subscription saved before the
    allowlist, or a name that now resolves to an internal address): delete it unsent."""


class NoRedirectSession(requests.Session):
    """A push service answers, it never redirects: following one would let an allowed host
    send the worker to any other address."""

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


class WebPushBackend(DeliveryBackend):
    """One ``requests`` session per batch: connections to each push service are kept alive."""

    channel = "push"

    def __init__(self):
        self._session: requests.Session | None = None

    def provider_for(self, address: str) -> str:
        """Each push service (FCM, Mozilla, Apple...) is its own provider for the breaker."""
        return f"push:{urlsplit(address).netloc}"

    def send(self, message: PushMessage) -> str:
        private_key = vapid.private_key()
        if not (private_key and settings.VAPID_SUBJECT):
            raise PermanentDeliveryError("VAPID_PRIVATE_KEY / VAPID_SUBJECT are not configured")
        try:
            check_push_endpoint(message.endpoint, require_resolution=True)
        except EndpointRefused as exc:
            raise SubscriptionRefused(f"push endpoint refused: {exc}") from exc
        except EndpointUnresolved as exc:
            raise DeliveryError(str(exc)) from exc
        if self._session is None:
            self._session = NoRedirectSession()
        try:
            response = webpush(
                subscription_info={
                    "endpoint": message.endpoint,
                    "keys": {"p256dh": message.p256dh, "auth": message.auth},
                },
                data=json.dumps(message.payload),
                vapid_private_key=private_key,
                # A fresh dict per call: pywebpush writes "aud" and "exp" into it.
                vapid_claims={"sub": settings.VAPID_SUBJECT},
                ttl=message.ttl,
                timeout=settings.WEBPUSH_TIMEOUT_SECONDS,
                headers={"Urgency": message.urgency},
                requests_session=self._session,
            )
        except WebPushException as exc:
            status = getattr(exc.response, "status_code", None)
            if status in (404, 410):
                raise SubscriptionGone(f"push subscription gone ({status})") from exc
            if status is not None and 300 <= status < 400:
                raise PermanentDeliveryError(f"push service redirected ({status})") from exc
            if status is not None and 400 <= status < 500 and status != 429:
                raise PermanentDeliveryError(f"push service rejected ({status})") from exc
            raise DeliveryError(f"push service failed ({status}): {exc}") from exc
        except requests.RequestException as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return response.headers.get("Location", "")

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
