"""Writes for the account page and the device API: contact points and the user's devices.

An email address or phone number is used for delivery only once its owner has confirmed it
(see ``ContactPoint``): the address is stored at once, and a link (email) or a code (SMS) proves
it. Messages leave after commit, so a rolled-back change sends nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from notifications.delivery.backends import get_backend
from notifications.delivery.backends.messages import SmsMessage
from notifications.delivery.errors import DeliveryError
from notifications.delivery.rendering import absolute_url
from notifications.models import Channel, ContactPoint, MobileDevice, PushSubscription

logger = logging.getLogger(__name__)

EMAIL_TOKEN_SALT = "notifications.account.email"
PHONE_CODE_SALT = "notifications.account.phone"


class VerificationError(Exception):
    """The link or code cannot confirm anything; the message says why, for the user."""


def contact_point_of(*, user, lock: bool = False) -> ContactPoint:
    queryset = ContactPoint.objects.select_for_update() if lock else ContactPoint.objects
    contact, _ = queryset.get_or_create(user=user)
    return contact


# --- email ---------------------------------------------------------------------------------


def email_verification_token(*, user) -> str:
    """A signed, expiring token naming the user and the address it confirms."""
    return signing.dumps({"u": user.pk, "e": user.email}, salt=EMAIL_TOKEN_SALT, compress=True)


def email_verification_url(*, user) -> str:
    return absolute_url(
        reverse("account:verify_email", args=[email_verification_token(user=user)])
    )


def _send_email_verification(user_id: int) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    context = {"user": user, "verify_url": email_verification_url(user=user),
               "site_url": settings.SITE_URL,
               "max_age_hours": settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS // 3600}
    send_mail(
        subject="Confirm your email address for Herald",
        message=render_to_string("account/verify_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
        fail_silently=False,
    )


def email_verification_send(*, user) -> None:
    """Email ``user`` a link that confirms their current address (after commit)."""
    transaction.on_commit(partial(_send_email_verification, user.pk), robust=True)


@transaction.atomic
def email_change(*, user, email: str) -> bool:
    """Set the user's address; a new one is unverified until its link is followed.

    Returns True when a verification email is on its way (the address changed, or it was never
    confirmed), False when nothing changed.
    """
    email = email.strip()
    contact = contact_point_of(user=user, lock=True)
    if email == user.email and contact.email_is_verified(email):
        return False
    if email != user.email:
        user.email = email
        user.save(update_fields=["email"])
    if email:
        email_verification_send(user=user)
    return bool(email)


@transaction.atomic
def email_verify(*, token: str):
    """Confirm the address named by a verification link; returns its user.

    Raises ``VerificationError`` for a bad or expired link, or one for an address the user has
    since replaced.
    """
    from django.contrib.auth import get_user_model

    try:
        data = signing.loads(
            token, salt=EMAIL_TOKEN_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired:
        raise VerificationError("This link has expired. Send a new one from your account page.")
    except signing.BadSignature:
        raise VerificationError("This link is not valid.")
    user = get_user_model().objects.filter(pk=data.get("u")).first()
    if user is None or not user.email or user.email != data.get("e"):
        raise VerificationError(
            "This link is for an address that is no longer on the account."
        )
    contact = contact_point_of(user=user, lock=True)
    if contact.email_verified != user.email:
        contact.email_verified = user.email
        contact.save(update_fields=["email_verified"])
    return user


def email_mark_verified(*, user) -> None:
    """Trust the user's current address without a link (demo data, staff-created accounts)."""
    if user.email:
        ContactPoint.objects.update_or_create(user=user, defaults={"email_verified": user.email})


# --- phone -----------------------------------------------------------------------------------


def _code_hash(contact: ContactPoint, code: str) -> str:
    # Keyed by the number too: a code sent to one number never confirms another.
    return salted_hmac(PHONE_CODE_SALT, f"{contact.user_id}:{contact.phone}:{code}").hexdigest()


def _send_phone_code(user_id: int, phone: str, code: str) -> None:
    backend = get_backend(Channel.SMS)
    try:
        backend.send(
            SmsMessage(
                to=phone,
                text=f"Your Herald verification code is {code}. It expires in "
                f"{settings.PHONE_CODE_TTL_SECONDS // 60} minutes.",
                recipient_id=user_id,
                kind="phone_verification",
            )
        )
    except DeliveryError:
        logger.warning("Verification code to user %s could not be sent", user_id, exc_info=True)
    finally:
        backend.close()


def _issue_phone_code(contact: ContactPoint) -> None:
    code = f"{secrets.randbelow(10**6):06d}"
    contact.phone_code_hash = _code_hash(contact, code)
    contact.phone_code_expires_at = timezone.now() + timedelta(
        seconds=settings.PHONE_CODE_TTL_SECONDS
    )
    contact.phone_code_attempts = 0
    contact.save(update_fields=["phone_code_hash", "phone_code_expires_at", "phone_code_attempts"])
    transaction.on_commit(
        partial(_send_phone_code, contact.user_id, contact.phone, code), robust=True
    )


@transaction.atomic
def phone_change(*, user, phone: str) -> bool:
    """Set the user's phone (E.164, validated by the caller); an unconfirmed number gets a code
    by SMS. An empty ``phone`` removes it. Returns True when a code was sent."""
    contact = contact_point_of(user=user, lock=True)
    if phone == contact.phone and contact.phone_is_verified:
        return False
    contact.phone = phone
    contact.phone_code_hash = ""
    contact.phone_code_expires_at = None
    contact.save(update_fields=["phone", "phone_code_hash", "phone_code_expires_at"])
    if not phone:
        return False
    _issue_phone_code(contact)
    return True


@transaction.atomic
def phone_code_resend(*, user) -> bool:
    contact = contact_point_of(user=user, lock=True)
    if not contact.phone or contact.phone_is_verified:
        return False
    _issue_phone_code(contact)
    return True


def phone_verify(*, user, code: str) -> None:
    """Confirm the user's phone with the code sent to it. Raises ``VerificationError``.

    After ``PHONE_CODE_MAX_ATTEMPTS`` wrong codes the code is void and a new one must be sent.
    A wrong guess is counted even though an error is raised (the count is committed first).
    """
    error = _phone_check_code(user=user, code=code)
    if error:
        raise VerificationError(error)


@transaction.atomic
def _phone_check_code(*, user, code: str) -> str:
    contact = contact_point_of(user=user, lock=True)
    if contact.phone_is_verified:
        return ""
    if not contact.phone or not contact.phone_code_hash:
        return "Send a code to your phone first."
    if contact.phone_code_expires_at is None or contact.phone_code_expires_at < timezone.now():
        return "The code has expired. Send a new one."
    if contact.phone_code_attempts >= settings.PHONE_CODE_MAX_ATTEMPTS:
        return "Too many wrong codes. Send a new one."
    if not constant_time_compare(_code_hash(contact, code.strip()), contact.phone_code_hash):
        contact.phone_code_attempts += 1
        contact.save(update_fields=["phone_code_attempts"])
        return "That code is not right."
    contact.phone_verified = contact.phone
    contact.phone_code_hash = ""
    contact.phone_code_expires_at = None
    contact.phone_code_attempts = 0
    contact.save(update_fields=[
        "phone_verified", "phone_code_hash", "phone_code_expires_at", "phone_code_attempts"
    ])
    return ""


# --- devices ---------------------------------------------------------------------------------


def device_secret_hash(secret: str) -> str:
    # Secrets are long random strings: a fast hash is enough (nothing to guess from).
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def mobile_device_register(
    *, user, platform: str, token: str, app_id: str = "", name: str = "",
    device: MobileDevice | None = None,
) -> tuple[MobileDevice, str]:
    """Register (or refresh) a device's push token for ``user``; returns it and a new secret.

    The token is unique: a token already registered moves to ``user`` (the app was signed in to
    another account), keeping one row. ``device`` (the caller authenticated as that device)
    gets its token replaced when the provider rotated it. The secret is shown once; only its
    hash is stored.
    """
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    existing = MobileDevice.objects.select_for_update().filter(token=token).first()
    if device is not None and existing is not None and existing.pk != device.pk:
        existing.delete()  # the old row of this token gives way to the device's own row
    target = device or existing or MobileDevice(created_at=now)
    target.user = user
    target.platform = platform
    target.token = token
    target.app_id = app_id
    target.name = name
    target.secret_hash = device_secret_hash(secret)
    target.last_seen_at = now
    target.save()
    return target, secret


def mobile_device_for_secret(*, secret: str) -> MobileDevice | None:
    """The device a secret belongs to, its last-seen time brought up to date."""
    if not secret:
        return None
    device = (
        MobileDevice.objects.select_related("user")
        .filter(secret_hash=device_secret_hash(secret))
        .first()
    )
    if device is not None:
        now = timezone.now()
        if now - device.last_seen_at > timedelta(minutes=1):
            MobileDevice.objects.filter(pk=device.pk).update(last_seen_at=now)
            device.last_seen_at = now
    return device


def mobile_device_remove(*, user, device_id: int) -> bool:
    """Forget one of ``user``'s devices; another user's id removes nothing."""
    deleted, _ = MobileDevice.objects.filter(user=user, pk=device_id).delete()
    return bool(deleted)


def push_subscription_remove(*, user, subscription_id: int) -> bool:
    """Forget one of ``user``'s browsers; another user's id removes nothing."""
    deleted, _ = PushSubscription.objects.filter(user=user, pk=subscription_id).delete()
    return bool(deleted)
