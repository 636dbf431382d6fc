"""Reads of the notifications app: what views, consumers and other apps show or target."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from notifications import counters
from notifications.kinds import user_facing_kinds
from notifications.models import (
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    Preference,
    Priority,
    QuietHours,
    Subscription,
)

PAGE_SIZE = 20
CATCH_UP_LIMIT = 50


def visible_notifications(*, user) -> QuerySet[Notification]:
    """The rows ``user``'s notification center shows (not dismissed, in-app on)."""
    return Notification.objects.filter(recipient=user, in_app=True, dismissed_at__isnull=True)


def notification_list(
    *,
    user,
    before_id: int | None = None,
    unread_only: bool = False,
    kind: str | None = None,
    limit: int = PAGE_SIZE,
) -> list[Notification]:
    """``user``'s notifications newest first; the next page is ``before_id=<last id shown>``."""
    rows = visible_notifications(user=user)
    if before_id is not None:
        rows = rows.filter(pk__lt=before_id)
    if unread_only:
        rows = rows.filter(is_read=False)
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.order_by("-id")[:limit])


def notifications_after(*, user, last_id: int, limit: int = CATCH_UP_LIMIT) -> list[Notification]:
    """What ``user`` has not seen yet: rows after ``last_id``, oldest first (the catch-up).

    Capped at ``limit`` (the newest ones); the badge carries the full unread count anyway.
    """
    rows = visible_notifications(user=user).filter(pk__gt=last_id).order_by("-id")[:limit]
    return list(reversed(rows))


def notifications_beyond_catch_up(*, user, last_id: int, batch: list[Notification]) -> int:
    """How many rows after ``last_id`` a capped catch-up ``batch`` left out (0 below the cap).

    Counted only when the cap was reached: the rows older than the batch's oldest one.
    """
    if len(batch) < CATCH_UP_LIMIT or not batch:
        return 0
    return visible_notifications(user=user).filter(pk__gt=last_id, pk__lt=batch[0].pk).count()


def newest_notification_id(*, user, before: datetime) -> int:
    """The id of the newest notification ``user`` had at ``before`` (0 when none)."""
    newest = (
        Notification.objects.filter(recipient=user, created_at__lt=before)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return newest or 0


def unread_counts(user_ids: Iterable[int], *, store: bool = True) -> dict[int, int]:
    """Unread counts from the cache; misses are counted with one grouped query and stored.

    Pushes made right after a commit pass ``store=False``: another transaction's on-commit
    increment may still be on its way, and storing a count that already includes its row would
    let that increment count it twice.
    """
    user_ids = list(dict.fromkeys(user_ids))
    try:
        found = counters.get_unread_many(user_ids)
    except counters.CACHE_ERRORS:
        # The cache is an accelerator: without it the badge is counted in the database.
        found, store = {}, False
    missing = [user_id for user_id in user_ids if user_id not in found]
    if missing:
        rebuilt = dict.fromkeys(missing, 0)
        rebuilt.update(
            Notification.objects.filter(
                recipient_id__any_of=missing, is_read=False, in_app=True
            )
            .values("recipient_id")
            .annotate(count=Count("id"))
            .order_by()
            .values_list("recipient_id", "count")
        )
        if store:
            counters.store_unread_many(rebuilt)
        found.update(rebuilt)
    return found


def unread_count(*, user) -> int:
    """The badge number: read from the cache, counted in the database only on a miss."""
    return unread_counts([user.pk])[user.pk]


def subscribers(*, topic: str, kind: str | None = None) -> QuerySet:
    """Users following ``topic``; with ``kind``, only those whose subscription covers it."""
    follows = Subscription.objects.filter(user=OuterRef("pk"), topic=topic)
    if kind:
        if connection.features.supports_json_field_contains:
            covers = Q(kinds__contains=[kind])
        else:  # SQLite (embedded mode): match the quoted key in the JSON text.
            covers = Q(kinds__icontains=f'"{kind}"')
        follows = follows.filter(Q(kinds=[]) | covers)
    return get_user_model().objects.filter(Exists(follows), is_active=True)


def subscriptions_of(*, user) -> QuerySet[Subscription]:
    return Subscription.objects.filter(user=user).order_by("topic")


def preference_matrix(*, user) -> dict[str, dict[str, bool]]:
    """kind key → channel → enabled, for every user-facing kind (defaults where no row)."""
    chosen = {
        (kind, channel): enabled
        for kind, channel, enabled in Preference.objects.filter(user=user).values_list(
            "kind", "channel", "enabled"
        )
    }
    return {
        kind.key: {
            channel: chosen.get((kind.key, channel), kind.default_enabled(channel))
            for channel in Channel.values
        }
        for kind in user_facing_kinds()
    }


def quiet_hours_of(*, user) -> QuietHours | None:
    return QuietHours.objects.filter(user=user).first()


# --- Browser pages (notification center, nav, preferences) ----------------------------------


def latest_notification_id(*, user) -> int:
    """The newest id ``user``'s pages show (0 when none): where the socket's catch-up starts."""
    return visible_notifications(user=user).order_by("-id").values_list("pk", flat=True).first() or 0


def urgent_unread(*, user, limit: int = 3) -> list[Notification]:
    """Unread urgent notifications, newest first: the banners pinned on every page."""
    return list(
        visible_notifications(user=user)
        .filter(is_read=False, priority=Priority.URGENT)
        .order_by("-id")[:limit]
    )


@dataclass(frozen=True)
class SubscriptionRow:
    topic: str
    label: str
    url: str
    kinds: list


def subscription_rows(*, user) -> list[SubscriptionRow]:
    """``user``'s subscriptions with a readable label and link for each topic's object.

    Topics are ``"<app>.<model>:<pk>"`` strings; the objects are loaded generically (one query
    per model), so this app still imports no domain app. A vanished object keeps its topic text.
    """
    subscriptions = list(subscriptions_of(user=user))
    wanted: dict[str, set[int]] = {}
    for subscription in subscriptions:
        model_label, _, pk = subscription.topic.partition(":")
        if pk.isdigit():
            wanted.setdefault(model_label, set()).add(int(pk))
    objects: dict[str, dict[int, object]] = {}
    for model_label, pks in wanted.items():
        try:
            model = apps.get_model(model_label)
        except (LookupError, ValueError):
            continue
        objects[model_label] = model._default_manager.in_bulk(pks)
    rows = []
    for subscription in subscriptions:
        model_label, _, pk = subscription.topic.partition(":")
        obj = objects.get(model_label, {}).get(int(pk)) if pk.isdigit() else None
        url = obj.get_absolute_url() if obj is not None and hasattr(obj, "get_absolute_url") else ""
        rows.append(
            SubscriptionRow(
                topic=subscription.topic,
                label=str(obj) if obj is not None else subscription.topic,
                url=url,
                kinds=list(subscription.kinds),
            )
        )
    return rows


def engagement_by_kind(*, since) -> list[dict]:
    """Per kind, for in-app notifications created since ``since``: how many were delivered,
    seen (shown in the dropdown or center) and clicked through. One grouped query."""
    return list(
        Notification.objects.filter(in_app=True, created_at__gte=since)
        .values("kind")
        .annotate(
            delivered=Count("id"),
            seen=Count("id", filter=Q(seen_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by("kind")
    )


# External channels whose clicks come back (notifications.delivery.clicks).
CLICK_TRACKED = (Channel.EMAIL, Channel.PUSH)


def delivery_ledger(*, since) -> list[dict]:
    """Per kind and channel, for notifications created since ``since``: sent, seen and clicked.

    In-app: every row shown in the center counts as sent, seen when the dropdown or center
    showed it, clicked when followed. Email and web push: sent by the provider, clicked through
    the signed link (``seen`` is None: opens are not tracked); SMS and the mobile app: sent
    only. Two grouped
    queries, whatever the number of rows.
    """
    rows = [
        {"kind": row["kind"], "channel": Channel.IN_APP, "sent": row["delivered"],
         "seen": row["seen"], "clicked": row["clicked"]}
        for row in engagement_by_kind(since=since)
    ]
    external = (
        Delivery.objects.filter(notification__created_at__gte=since)
        .values("notification__kind", "channel")
        .annotate(
            sent=Count("id", filter=Q(status=DeliveryStatus.SENT)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    )
    for row in external:
        tracked = row["channel"] in CLICK_TRACKED
        rows.append({"kind": row["notification__kind"], "channel": row["channel"],
                     "sent": row["sent"], "seen": None,
                     "clicked": row["clicked"] if tracked else None})
    order = {channel: index for index, channel in enumerate(Channel.values)}
    return sorted(rows, key=lambda row: (row["kind"], order[row["channel"]]))
