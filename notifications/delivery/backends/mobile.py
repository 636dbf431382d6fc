"""The phone-app channel: each device's push goes to APNs (iOS) or FCM (Android).

``MOBILE_APNS_BACKEND`` and ``MOBILE_FCM_BACKEND`` name the two provider backends (dotted paths,
like every backend); both share this backend's HTTP/2 client, so one batch keeps one connection
per provider.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from notifications.delivery.backends.h2client import Http2Client
from notifications.delivery.backends.http2 import AsyncHttp2Backend
from notifications.delivery.backends.messages import MobileMessage
from notifications.delivery.errors import PermanentDeliveryError


class MobilePushBackend(AsyncHttp2Backend):
    channel = "mobile"

    def __init__(self):
        super().__init__()
        self._providers: dict[str, AsyncHttp2Backend] = {}
        self._provider_names: dict[str, str] = {}

    def _provider_backend(self, platform: str) -> AsyncHttp2Backend:
        if platform not in self._providers:
            paths = {"ios": settings.MOBILE_APNS_BACKEND, "android": settings.MOBILE_FCM_BACKEND}
            if platform not in paths:
                raise PermanentDeliveryError(f"Unknown device platform {platform!r}")
            self._providers[platform] = import_string(paths[platform])()
        return self._providers[platform]

    def provider_for(self, address: str) -> str:
        """``address`` is the device's platform: one breaker per provider (APNs, FCM). Asked for
        every device: the name is worked out once per backend (per batch)."""
        if address not in self._provider_names:
            self._provider_names[address] = self._provider_backend(address).provider
        return self._provider_names[address]

    async def deliver(self, client: Http2Client, message: MobileMessage) -> str:
        return await self._provider_backend(message.platform).deliver(client, message)
