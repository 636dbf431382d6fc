"""``/api/v1/devices``: the Herald phone app registers its APNs / FCM token here.

Two ways in: the signed-in browser session (with its CSRF token, e.g. the app's web view right
after login), or the device's own secret (``X-Device-Secret``), returned once when the device
is registered, so the app can later refresh a rotated token or sign out without a session.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.security import APIKeyHeader, django_auth
from pydantic import ConfigDict, Field, model_validator

from notifications.account import services
from notifications.models import MobileDevice

APNS_TOKEN = re.compile(r"^[0-9a-f]{32,200}$")
FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:\-.]{20,512}$")


class DeviceSecret(APIKeyHeader):
    param_name = "X-Device-Secret"

    def authenticate(self, request: HttpRequest, key: str | None):
        device = services.mobile_device_for_secret(secret=key or "")
        if device is None:
            return None
        request.device = device
        return device.user


def _session(request: HttpRequest):
    user = django_auth(request)
    if user:
        request.device = None
    return user


router = Router(auth=[_session, DeviceSecret()], tags=["devices"])


class DeviceIn(Schema):
    model_config = ConfigDict(extra="forbid")

    platform: Literal["ios", "android"]
    token: str = Field(
        max_length=512,
        description="The APNs device token (hex) or the FCM registration token.",
    )
    app_id: str = Field(
        default="", max_length=255,
        description="APNs topic (bundle id) or Android package name; empty = the server's default.",
    )
    name: str = Field(default="", max_length=100, description="Shown on the account page.")

    @model_validator(mode="after")
    def token_shape(self):
        if self.platform == "ios":
            self.token = self.token.lower()
            if not APNS_TOKEN.match(self.token):
                raise ValueError("An APNs device token is the hex string the app was given.")
        elif not FCM_TOKEN.match(self.token):
            raise ValueError("An FCM registration token is the string the app was given.")
        return self


class DeviceOut(Schema):
    id: int
    platform: str
    token: str
    app_id: str
    name: str
    created_at: datetime
    last_seen_at: datetime


class DeviceRegistered(DeviceOut):
    device_secret: str = Field(
        description="Send as `X-Device-Secret` to update or remove this device; shown once."
    )


class Detail(Schema):
    detail: str


@router.post(
    "", response={201: DeviceRegistered, 400: Detail, 401: Detail}, summary="Register a device",
    operation_id="devices_register",
)
def register_device(request, payload: DeviceIn):
    """Register this phone's push token for the signed-in user (or, with `X-Device-Secret`,
    replace the token of that device). A token already registered moves to this user. Answers
    a new device secret each time."""
    device, secret = services.mobile_device_register(
        user=request.auth,
        platform=payload.platform,
        token=payload.token,
        app_id=payload.app_id,
        name=payload.name,
        device=getattr(request, "device", None),
    )
    return Status(201, {**DeviceOut.model_validate(device).model_dump(), "device_secret": secret})


@router.get("", response={200: list[DeviceOut], 401: Detail}, summary="The user's devices",
            operation_id="devices_list")
def list_devices(request):
    return list(MobileDevice.objects.filter(user=request.auth).order_by("-last_seen_at"))


@router.delete(
    "/{device_id}", response={204: None, 401: Detail, 404: Detail}, summary="Unregister a device",
    operation_id="devices_unregister",
)
def unregister_device(request, device_id: int):
    """Stop pushes to a device. With `X-Device-Secret` only that device itself; with a session
    any of the user's devices. Another user's device is a 404."""
    device = getattr(request, "device", None)
    if device is not None and device.pk != device_id:
        return Status(404, {"detail": "No such device."})
    if not services.mobile_device_remove(user=request.auth, device_id=device_id):
        return Status(404, {"detail": "No such device."})
    return Status(204, None)
