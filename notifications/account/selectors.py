"""Reads for the account page: contact points, devices, and whether each channel can reach
the user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.urls import reverse

from notifications.delivery import vapid
from notifications.models import Channel, ContactPoint, MobileDevice, PushSubscription


@dataclass(frozen=True)
class ChannelReach:
    channel: str
    label: str
    reachable: bool
    detail: str  # where it goes, or what is missing
    fix: str = ""  # what to do about it
    fix_url: str = ""


@dataclass(frozen=True)
class DeviceRow:
    kind: str  # "browser" | "mobile"
    id: int
    label: str
    last_seen_at: datetime
    created_at: datetime


def contact_point_of(*, user) -> ContactPoint:
    return ContactPoint.objects.filter(user=user).first() or ContactPoint(user=user)


def _browser_label(user_agent: str) -> str:
    for name in ("Edg", "Firefox", "Chrome", "Safari"):
        if name in user_agent:
            return {"Edg": "Edge"}.get(name, name)
    return "Browser"


def devices_of(*, user) -> list[DeviceRow]:
    """The user's browsers (web push) and phone apps, most recently seen first (two queries)."""
    rows = [
        DeviceRow("browser", sub.pk, f"{_browser_label(sub.user_agent)} (web push)",
                  sub.last_seen_at, sub.created_at)
        for sub in PushSubscription.objects.filter(user=user)
    ]
    rows += [
        DeviceRow("mobile", device.pk,
                  f"{device.name or device.get_platform_display()}"
                  + (f" · {device.app_id}" if device.app_id else ""),
                  device.last_seen_at, device.created_at)
        for device in MobileDevice.objects.filter(user=user)
    ]
    return sorted(rows, key=lambda row: row.last_seen_at, reverse=True)


def channel_reach(*, user, devices: list[DeviceRow] | None = None) -> list[ChannelReach]:
    """Per external channel: can it reach ``user`` now, and if not, how to fix it."""
    contact = contact_point_of(user=user)
    devices = devices_of(user=user) if devices is None else devices
    account = reverse("account:account")
    rows = []
    if not user.email:
        rows.append(ChannelReach(Channel.EMAIL, "Email", False, "No email address.",
                                 "Add an email address", account + "#email"))
    elif not contact.email_is_verified(user.email):
        rows.append(ChannelReach(Channel.EMAIL, "Email", False,
                                 f"{user.email} is not confirmed yet.",
                                 "Follow the link we emailed, or send it again", account + "#email"))
    else:
        rows.append(ChannelReach(Channel.EMAIL, "Email", True, user.email))
    browsers = sum(1 for row in devices if row.kind == "browser")
    if not vapid.public_key():
        rows.append(ChannelReach(Channel.PUSH, "Web push", False,
                                 "Web push is not configured on this server."))
    elif not browsers:
        rows.append(ChannelReach(Channel.PUSH, "Web push", False, "No browser is subscribed.",
                                 "Enable push notifications in this browser",
                                 reverse("notifications:preferences") + "#push-title"))
    else:
        rows.append(ChannelReach(Channel.PUSH, "Web push", True,
                                 f"{browsers} browser{'s' if browsers != 1 else ''}"))
    if not contact.phone:
        rows.append(ChannelReach(Channel.SMS, "SMS", False, "No phone number.",
                                 "Add a phone number", account + "#phone"))
    elif not contact.phone_is_verified:
        rows.append(ChannelReach(Channel.SMS, "SMS", False, f"{contact.phone} is not confirmed yet.",
                                 "Enter the code we sent by SMS", account + "#phone"))
    else:
        rows.append(ChannelReach(Channel.SMS, "SMS", True, contact.phone))
    phones = sum(1 for row in devices if row.kind == "mobile")
    if not phones:
        rows.append(ChannelReach(Channel.MOBILE, "Mobile app", False, "No phone app signed in.",
                                 "Install the Herald app and sign in"))
    else:
        rows.append(ChannelReach(Channel.MOBILE, "Mobile app", True,
                                 f"{phones} device{'s' if phones != 1 else ''}"))
    return rows


def sms_is_simulated() -> bool:
    """True when SMS are only printed on the server's console (no provider configured)."""
    return settings.DELIVERY_BACKENDS.get("sms", "").endswith("ConsoleSmsBackend")
