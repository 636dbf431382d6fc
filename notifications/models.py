"""Notification data: the record every channel is delivered from.

Rows are created only by ``notifications.services`` (see ``notify``); nothing here imports the
domain apps: the subject of a notification is a content type + object id.
"""

import hashlib
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app"
    EMAIL = "email", "Email"
    PUSH = "push", "Web push"
    SMS = "sms", "SMS"
    MOBILE = "mobile", "Mobile app"


# Channels that go through a provider and therefore get a Delivery row.
EXTERNAL_CHANNELS = (Channel.EMAIL, Channel.PUSH, Channel.SMS, Channel.MOBILE)


class Priority(models.TextChoices):
    URGENT = "urgent", "Urgent"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


class Silenced(models.TextChoices):
    """Why an in-app notification was stored without a toast (empty = it was toasted)."""

    NO = "", "Toasted"
    QUIET_HOURS = "quiet_hours", "Quiet hours"
    RATE_LIMIT = "rate_limit", "Rate limit"


class Notification(models.Model):
    # Every row of a fan-out writes each index: the recipient's lookups use the composite
    # indexes below (recipient first), so the foreign keys get no index of their own; nothing
    # filters by content type (only a deleted content type would, setting it to NULL).
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(max_length=64)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    object_id = models.BigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    data = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200)
    # False when the recipient turned the in-app channel off for this kind: the row exists only
    # as the record the email/push/SMS deliveries point to, and the notification center hides it.
    in_app = models.BooleanField(default=True)
    silenced = models.CharField(max_length=16, choices=Silenced.choices, blank=True, default="")
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], name="notification_unique_recipient_dedupe"
            ),
        ]
        indexes = [
            # The center and the catch-up: one user's rows newest first, keyset by id.
            models.Index(fields=["recipient", "-id"], name="notification_recipient_newest"),
            # The badge rebuild and the "unread" filter.
            models.Index(
                fields=["recipient", "-id"],
                condition=Q(is_read=False, in_app=True),
                name="notification_unread_newest",
            ),
            # The nightly purge: read rows by read time, unread rows by age.
            models.Index(
                fields=["read_at"], condition=Q(is_read=True), name="notification_read_purge"
            ),
            models.Index(
                fields=["created_at"], condition=Q(is_read=False), name="notification_unread_purge"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}: {self.title}"


class Preference(models.Model):
    """An explicit choice for one (kind, channel); a missing row means the kind's default."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "channel"], name="preference_unique_user_kind_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}/{self.channel}={'on' if self.enabled else 'off'}"


class QuietHours(models.Model):
    """A daily do-not-disturb window in the user's time zone; ``end`` may be past midnight."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiet_hours"
    )
    start = models.TimeField()
    end = models.TimeField()
    time_zone = models.CharField(max_length=64, default="UTC")

    class Meta:
        verbose_name_plural = "quiet hours"

    def __str__(self) -> str:
        return f"{self.user_id} {self.start:%H:%M}–{self.end:%H:%M} {self.time_zone}"

    def window_end(self, now: datetime) -> datetime | None:
        """The end of the window containing ``now`` (aware, UTC), or None when outside it."""
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        local = now.astimezone(zone)
        start, end, time_of_day = self.start, self.end, local.time()
        if start == end:
            return None
        if start < end:
            inside = start <= time_of_day < end
            end_day = local.date()
        else:  # The window wraps midnight, e.g. 22:00–07:00.
            inside = time_of_day >= start or time_of_day < end
            end_day = local.date() + timedelta(days=1) if time_of_day >= start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, end, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def topic_for(obj: models.Model) -> str:
    """The subscription topic of a model instance, e.g. ``"events.event:12"``.

    A plain string, so the notifications app never imports the domain apps.
    """
    return f"{obj._meta.app_label}.{obj._meta.model_name}:{obj.pk}"


class Subscription(models.Model):
    """``user`` follows ``topic`` (``topic_for(obj)``); empty ``kinds`` = every kind."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_subscriptions",
    )
    topic = models.CharField(max_length=200)
    kinds = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "topic"], name="subscription_unique_user_topic"
            ),
        ]
        indexes = [models.Index(fields=["topic"], name="subscription_topic")]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.topic}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    DEAD = "dead", "Dead"
    # Never tried: the channel is on but its contact point is not verified (reason in last_error).
    SKIPPED = "skipped", "Skipped"


class Delivery(models.Model):
    """One external channel (email, push, SMS) of one notification; tasks are idempotent on it."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due: quiet hours defer it, retries back off, a claim leases it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The claim that holds the row now: an outcome is written only by the claim that still
    # holds it, so a worker whose lease ran out cannot overwrite the one that took over.
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The first time the recipient followed the message's link (email: the signed redirect;
    # web push: the service worker's report). SMS links are not tracked.
    clicked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "channel"], name="delivery_unique_notification_channel"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} for notification {self.notification_id}: {self.status}"


class DigestClaim(models.Model):
    """Who is sending a user's email digest right now: one row per user at most (the primary
    key), so two digest tasks of the same user (beat started twice, a redelivered message, a
    Redis restart) never both send. Expires with ``until`` if its worker dies."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
        related_name="+",
    )
    token = models.UUIDField()
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"digest of {self.user_id} until {self.until:%H:%M:%S}"


class NotifyRelay(models.Model):
    """What a committed ``notify()`` still owes outside the database: its in-app pushes, badge
    updates, delivery enqueue and rate-limit summaries.

    Written in the caller's transaction, deleted once the after-commit work has all gone out. A
    row that stays (the broker or Redis was down at commit, or the process died) is found by the
    every-minute relay, which redoes the work from the notifications themselves (the rows of one
    call share ``dedupe_key`` and ``created_at``).
    """

    kind = models.CharField(max_length=64)
    priority = models.CharField(max_length=8)
    dedupe_key = models.CharField(max_length=200)
    notified_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="notify_relay_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.dedupe_key} at {self.notified_at:%H:%M:%S}"


class PushSubscription(models.Model):
    """A browser's web push subscription (many per user); removed when the service says 404/410."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=2000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Each (re)subscription of the browser saves the row: the last time it was seen.
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.endpoint[:60]}"


class ContactPoint(models.Model):
    """Per-user contact details that the user model lacks (email comes from the user).

    An address is used for delivery only once it is verified: ``email_verified`` and
    ``phone_verified`` hold the address that was confirmed, so changing the address (anywhere,
    the admin included) makes it unverified until it is confirmed again.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_point"
    )
    phone = models.CharField(max_length=32, blank=True, help_text="E.164, e.g. +4915112345678")
    phone_verified = models.CharField(
        max_length=32, blank=True, help_text="The number the user confirmed with a code"
    )
    email_verified = models.EmailField(
        blank=True, help_text="The address the user confirmed through the emailed link"
    )
    # The pending phone code: a salted hash, its expiry and the wrong guesses so far.
    phone_code_hash = models.CharField(max_length=128, blank=True)
    phone_code_expires_at = models.DateTimeField(null=True, blank=True)
    phone_code_attempts = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user_id} {self.phone}"

    @property
    def phone_is_verified(self) -> bool:
        return bool(self.phone) and self.phone == self.phone_verified

    def email_is_verified(self, email: str) -> bool:
        return bool(email) and email == self.email_verified


class DevicePlatform(models.TextChoices):
    IOS = "ios", "iOS (APNs)"
    ANDROID = "android", "Android (FCM)"


class MobileDevice(models.Model):
    """A phone or tablet running the Herald app (many per user); removed when APNs or FCM say
    its token is gone.

    ``token`` is the APNs device token or the FCM registration token. ``secret_hash`` is the
    hash of the device's own API credential (shown once at registration), so the app can update
    or remove its registration without a browser session.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mobile_devices"
    )
    platform = models.CharField(max_length=8, choices=DevicePlatform.choices)
    token = models.CharField(max_length=512, unique=True)
    app_id = models.CharField(
        max_length=255, blank=True, help_text="APNs topic (bundle id) or Android package name"
    )
    name = models.CharField(max_length=100, blank=True)
    secret_hash = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="mobile_device_user")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.platform} {self.token[:16]}…"


class ApiKey(models.Model):
    """A key for other services; only a hash is stored, the key itself is shown once."""

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Scopes: what the holder may send, and to whom.
    kinds = models.JSONField(
        default=list, blank=True,
        help_text='Kinds this key may send, e.g. ["event_updated"]; empty: every public kind.',
    )
    allow_urgent = models.BooleanField(
        default=False,
        help_text="May send urgent notifications (they skip quiet hours and rate limits).",
    )
    recipient_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="+",
        help_text="Only members of these groups may be notified; none: any user.",
    )

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @cached_property
    def recipient_group_ids(self) -> list[int]:
        """The ids of ``recipient_groups`` (the API's key lookup fills this in its own query)."""
        return list(self.recipient_groups.values_list("pk", flat=True))

    @staticmethod
    def hash(raw_key: str) -> str:
        # Keys are long random strings, so a fast hash is enough (no dictionary to guess from).
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str]:
        """A new raw key and its prefix: ``<prefix>.<secret>``."""
        prefix = secrets.token_hex(cls.PREFIX_LENGTH // 2)
        return f"{prefix}.{secrets.token_urlsafe(32)}", prefix


class ApiIdempotencyRecord(models.Model):
    """The answer given to one ``Idempotency-Key`` of one API key, replayed for a repeat."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="requests")
    idempotency_key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"], name="api_idempotency_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}:{self.idempotency_key} → {self.status_code}"
