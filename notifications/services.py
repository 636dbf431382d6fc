"""Writes of the notifications app. ``notify`` is the only code that creates Notification rows.

Every function here is meant to run inside the caller's transaction: whatever leaves the database
(socket pushes, counter changes, delivery tasks) is scheduled with ``transaction.on_commit``, so a
rolled-back transaction sends nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from functools import partial
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, connection, models, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.template import Context
from django.template.loader import select_template
from django.utils import timezone

from config.celery import enqueue
from notifications import bulk, counters
from operations import metrics
from notifications.delivery.policy import queue_for
from notifications.kinds import KINDS, RATE_LIMIT_SUMMARY, Kind, get_kind
from notifications.links import is_safe_url
from notifications.models import (
    EXTERNAL_CHANNELS,
    Channel,
    ContactPoint,
    Delivery,
    DeliveryStatus,
    MobileDevice,
    Notification,
    NotifyRelay,
    Preference,
    Priority,
    PushSubscription,
    QuietHours,
    Silenced,
    Subscription,
)
from notifications.realtime import push

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
PUSH_BATCH_SIZE = 2500


@dataclass(frozen=True)
class NotifyResult:
    """What one ``notify`` call did.

    ``created``: new rows; ``duplicates``: recipients that already had this ``dedupe_key``;
    ``silenced``: rows stored without a toast (quiet hours or rate limit);
    ``rate_limited``: of those, the ones past the recipient's rate limit for the kind.
    """

    created: int = 0
    duplicates: int = 0
    silenced: int = 0
    rate_limited: int = 0
    notification_ids: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)


def _recipient_filter(recipients: QuerySet) -> Q:
    """A ``pk__in`` filter on User that keeps a queryset of recipients a subquery."""
    if recipients.model is get_user_model():
        return Q(pk__in=recipients.values("pk"))
    return Q(pk__in=recipients)  # e.g. a values_list("user_id", flat=True) of another model


class Target(NamedTuple):
    """One recipient and the channels it gets; ``skip_*``: on, but the address is unconfirmed
    (email and SMS go only to addresses their owner confirmed, see ``ContactPoint``)."""

    user_id: int
    on_in_app: bool
    on_email: bool
    on_push: bool
    on_sms: bool
    on_mobile: bool
    skip_email: bool
    skip_sms: bool
    # The recipient's quiet hours, if any (read with the channels: no query of their own).
    quiet_start: time | None = None
    quiet_end: time | None = None
    quiet_zone: str | None = None


_CHANNELS = slice(1, 8)  # a Target's channel columns: a recipient with none of them is left out
_QUIET_HOURS = ("quiet_hours__start", "quiet_hours__end", "quiet_hours__time_zone")


def _channel_enabled(kind: Kind, channel: str):
    """SQL: the user's Preference row for (kind, channel) if any, else the kind's default."""
    choices = Preference.objects.filter(user=OuterRef("pk"), kind=kind.key, channel=channel)
    if kind.default_enabled(channel):
        return ~Exists(choices.filter(enabled=False))
    return Exists(choices.filter(enabled=True))


def _channel_annotations(kind: Kind) -> dict:
    """One boolean per channel: enabled for this kind and the user has somewhere to send it.

    Email and SMS go only to addresses their owner confirmed (see ``ContactPoint``); an enabled
    channel whose address is unconfirmed is flagged ``skip_*`` and recorded as a skipped delivery.
    """
    has_push = Exists(PushSubscription.objects.filter(user=OuterRef("pk")))
    has_mobile = Exists(MobileDevice.objects.filter(user=OuterRef("pk")))
    contact = ContactPoint.objects.filter(user=OuterRef("pk"))
    email_confirmed = Exists(contact.filter(email_verified=OuterRef("email")))
    has_phone = Exists(contact.exclude(phone=""))
    phone_confirmed = Exists(contact.exclude(phone="").filter(phone_verified=F("phone")))
    email_on = _channel_enabled(kind, Channel.EMAIL) & ~Q(email="")
    sms_on = _channel_enabled(kind, Channel.SMS) & has_phone

    def boolean(expression):
        return ExpressionWrapper(expression, output_field=BooleanField())

    return {
        "on_in_app": _channel_enabled(kind, Channel.IN_APP),
        "on_email": boolean(email_on & email_confirmed),
        "on_push": boolean(_channel_enabled(kind, Channel.PUSH) & has_push),
        "on_sms": boolean(sms_on & phone_confirmed),
        "on_mobile": boolean(_channel_enabled(kind, Channel.MOBILE) & has_mobile),
        "skip_email": boolean(email_on & ~email_confirmed),
        "skip_sms": boolean(sms_on & ~phone_confirmed),
    }


def _targets_query(kind: Kind, user_filter: Q) -> QuerySet:
    return (
        get_user_model()
        .objects.filter(user_filter, is_active=True)
        .annotate(**_channel_annotations(kind))
        .values_list("pk", *Target._fields[_CHANNELS], *_QUIET_HOURS)
        .order_by("pk")
    )


def _targets(kind: Kind, user_filter: Q) -> list[Target]:
    """The active recipients in id order with their channels; those left with none are left out.

    The "any channel" test is made here, not in SQL: in a WHERE clause PostgreSQL evaluated its
    per-channel subqueries for every row of the user table before joining the recipients
    (40,000 users for a 10,000-recipient fan-out), then again for the recipients' columns.
    """
    return [Target(*row) for row in _targets_query(kind, user_filter) if any(row[_CHANNELS])]


@functools.cache
def _targets_by_id_sql(kind_key: str, vendor: str) -> tuple[str, list, int]:
    """The SQL of ``_targets`` for recipients given as an id array, its parameters and the
    position of the array among them, compiled once per kind: building the query with its
    fourteen subqueries cost the ORM tens of milliseconds of CPU per call, against well under
    one for PostgreSQL to run it."""
    marker = ["ids"]
    query = _targets_query(get_kind(kind_key), Q(pk__in=RawSQL("SELECT unnest(%s::bigint[])",
                                                             [marker])))
    sql, params = query.query.sql_with_params()
    (position,) = [index for index, param in enumerate(params) if param is marker]
    return sql, list(params), position


def _targets_by_id(kind: Kind, user_ids: list[int]) -> list[Target]:
    """``_targets`` of the users ``user_ids``."""
    if not bulk.supports_set_insert():
        return _targets(kind, Q(pk__in=user_ids))
    sql, params, position = _targets_by_id_sql(kind.key, connection.vendor)
    params = [*params[:position], list(user_ids), *params[position + 1 :]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [Target(*row) for row in rows if any(row[_CHANNELS])]


# Why an enabled channel was not used, as the delivery ledger shows it.
SKIP_REASONS = {
    Channel.EMAIL: "email address not verified: confirm it from the account page",
    Channel.SMS: "phone number not verified: enter the code from the account page",
}


def render_part(kind: Kind, part: str, context: dict, templates: dict | None = None) -> str:
    """One template part of ``kind`` rendered with ``context``; ``templates`` keeps the chosen
    templates across the calls of one batch (the loader's search is most of a short render)."""
    key = (kind.key, part)
    if templates is None or key not in templates:
        chosen = select_template(kind.template_names(part))
        if templates is None:
            templates = {}
        templates[key] = chosen
    template = templates[key]
    # The engine's template with a plain Context, as the backend's render() does without a
    # request: its wrapper cost as much again as these short renders (docs/benchmarks.md).
    return template.template.render(
        Context(context, autoescape=template.backend.engine.autoescape)
    ).strip()


def _quiet_until(targets: Iterable[Target], now: datetime) -> dict[int, datetime]:
    """Recipients inside their quiet hours now → when their window ends."""
    deferred = {}
    for target in targets:
        if target.quiet_start is not None and target.user_id not in deferred:
            window_end = QuietHours(
                start=target.quiet_start, end=target.quiet_end, time_zone=target.quiet_zone
            ).window_end(now)
            if window_end is not None:
                deferred[target.user_id] = window_end
    return deferred


def _rate_limit_settings() -> tuple[int, int]:
    return (
        settings.NOTIFICATIONS_RATE_LIMIT_COUNT,
        settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS,
    )


def rate_limit_window(now: datetime) -> int:
    """The number of the fixed rate-limit window that ``now`` falls in."""
    return int(now.timestamp()) // _rate_limit_settings()[1]


def _chunks(items: list, size: int = CHUNK_SIZE):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_deliveries(planned: list[PlannedDelivery], now: datetime) -> list[int]:
    """Pending Delivery rows for (notification id, channel, due); their ids, in order."""
    if not planned:
        return []
    if bulk.supports_set_insert():
        notification_ids, channels, due = (list(column) for column in zip(*planned))
        return [
            row[0]
            for row in bulk.insert_rows(
                Delivery,
                varying={
                    "notification_id": notification_ids,
                    "channel": channels,
                    "next_attempt_at": due,
                },
                constant={"status": DeliveryStatus.PENDING, "created_at": now},
            )
        ]
    deliveries = [
        Delivery(
            notification_id=notification_id,
            channel=channel,
            status=DeliveryStatus.PENDING,
            next_attempt_at=due,
            created_at=now,
        )
        for notification_id, channel, due in planned
    ]
    for chunk in _chunks(deliveries):
        Delivery.objects.bulk_create(chunk)
    return [delivery.pk for delivery in deliveries]


def _insert_skipped_deliveries(skipped: list[SkippedDelivery], now: datetime) -> None:
    """The ledger's record of channels that were on but could not be used (never sent)."""
    if not skipped:
        return
    if bulk.supports_set_insert():
        notification_ids, channels = (list(column) for column in zip(*skipped))
        bulk.insert_rows(
            Delivery,
            varying={
                "notification_id": notification_ids,
                "channel": channels,
                "last_error": [SKIP_REASONS[channel] for channel in channels],
            },
            constant={"status": DeliveryStatus.SKIPPED, "created_at": now},
        )
        return
    rows = [
        Delivery(
            notification_id=notification_id,
            channel=channel,
            status=DeliveryStatus.SKIPPED,
            last_error=SKIP_REASONS[channel],
            created_at=now,
        )
        for notification_id, channel in skipped
    ]
    for chunk in _chunks(rows):
        Delivery.objects.bulk_create(chunk)


# Every body is copied into each recipient's row, email, push and SMS.
BODY_MAX_LENGTH = 2000


@dataclass(frozen=True)
class NotifyRequest:
    """The arguments of one ``notify`` call, for ``notify_many``."""

    kind: str
    recipients: Any
    subject: models.Model | None = None
    context: dict | None = None
    dedupe_key: str | None = None
    priority: str | None = None
    url: str = ""


def notify(
    *,
    kind: str,
    recipients,
    subject: models.Model | None = None,
    context: dict | None = None,
    dedupe_key: str | None = None,
    priority: str | None = None,
    url: str = "",
) -> NotifyResult:
    """Create one notification of ``kind`` per recipient and schedule its delivery after commit.

    Call inside the caller's transaction. ``recipients`` is a User queryset (kept as a subquery,
    so thousands cost no Python loop), an id queryset, or an iterable of users/ids. Recipients
    who turned every channel off for the kind get no row. Idempotent per (recipient,
    ``dedupe_key``): a repeat creates nothing and sends nothing. ``context`` must be
    JSON-serialisable: it renders the kind's templates and is stored as ``data``.
    """
    request = NotifyRequest(
        kind=kind, recipients=recipients, subject=subject, context=context,
        dedupe_key=dedupe_key, priority=priority, url=url,
    )
    return notify_many([request])[0]


def notify_many(requests: Sequence[NotifyRequest]) -> list[NotifyResult]:
    """``notify`` for many notifications at once: one result per request, in order.

    All or nothing, with the same guarantees per request as ``notify``, but the writes are shared:
    one recipient query per kind for the requests that name users by id, one insert for all the
    rows, one for their deliveries, one rate-limit script call per kind and one batch of
    after-commit work per kind and priority. A bad request raises ValueError before anything is
    written. Two requests for the same recipient and ``dedupe_key`` make one row: the first's.
    """
    prepared = [_prepared(request) for request in requests]
    if not prepared:
        return []
    return _fan_out(prepared)


@dataclass(frozen=True)
class _Prepared:
    """A validated ``NotifyRequest`` with its defaults filled in."""

    kind_def: Kind
    recipients: Any
    subject: models.Model | None
    context: dict
    dedupe_key: str
    priority: str
    url: str

    @property
    def urgent(self) -> bool:
        return self.priority == Priority.URGENT


# ``Priority.values`` builds a new list on every access: a sixth of a bulk request's validation.
_PRIORITIES = frozenset(Priority.values)


def _prepared(request: NotifyRequest) -> _Prepared:
    kind_def = get_kind(request.kind)
    priority = request.priority or kind_def.priority
    if priority not in _PRIORITIES:
        raise ValueError(f"Unknown priority {priority!r}; one of {', '.join(Priority.values)}")
    url = request.url
    if not is_safe_url(url):
        raise ValueError(f"url {url[:80]!r} is neither a path on this site nor on an allowed host")
    dedupe_key = request.dedupe_key or f"{request.kind}:{uuid.uuid4().hex}"
    if len(dedupe_key) > Notification._meta.get_field("dedupe_key").max_length:
        raise ValueError("dedupe_key is longer than 200 characters")
    return _Prepared(
        kind_def=kind_def, recipients=request.recipients, subject=request.subject,
        context=dict(request.context or {}), dedupe_key=dedupe_key, priority=priority, url=url,
    )


def _recipient_ids(recipients) -> list[int] | None:
    """The user ids a recipients argument names, or None for a queryset (kept as a subquery)."""
    if isinstance(recipients, QuerySet):
        return None
    if isinstance(recipients, get_user_model()):
        return [recipients.pk]
    return [int(getattr(recipient, "pk", recipient)) for recipient in recipients]


def _targets_of(prepared: list[_Prepared]) -> list[list[Target]]:
    """Each request's recipients with their channels, in recipient order: one query per kind for
    the requests that name users, one per request for a queryset of recipients."""
    targets: list[list[Target]] = [[] for _ in prepared]
    named: dict[str, list[tuple[int, list[int]]]] = {}
    for index, request in enumerate(prepared):
        ids = _recipient_ids(request.recipients)
        if ids is None:
            targets[index] = _targets(request.kind_def, _recipient_filter(request.recipients))
        elif ids:
            named.setdefault(request.kind_def.key, []).append((index, ids))
    for kind, requests in named.items():
        every_id = sorted({user_id for _, ids in requests for user_id in ids})
        found = {target.user_id: target for target in _targets_by_id(get_kind(kind), every_id)}
        for index, ids in requests:
            targets[index] = [found[user_id] for user_id in sorted(set(ids)) if user_id in found]
    return targets


@dataclass
class _Row:
    """One notification to insert: the request it comes from and its recipient's channels."""

    request: int
    target: Target
    quiet_until: datetime | None
    notification_id: int | None = None
    rate_limited: bool = False


# The columns a request sets once for all its recipients; shared by every row of a single
# notify(), so a fan-out sends them once however many rows it makes.
_REQUEST_COLUMNS = (
    "kind", "priority", "title", "body", "url", "content_type_id", "object_id", "data",
    "dedupe_key",
)


def _texts(request: _Prepared, templates: dict, rendered: dict) -> tuple[str, str]:
    """The request's title and body; ``rendered`` keeps them per (kind, url, subject, context)
    across the requests of one batch, so many notifications with the same content (one per
    recipient in a bulk request) are rendered once."""
    kind_def, subject = request.kind_def, request.subject
    key = (
        kind_def.key, request.url,
        None if subject is None else (type(subject), subject.pk),
        json.dumps(request.context, sort_keys=True, separators=(",", ":"), default=str),
    )
    if key not in rendered:
        template_context = {
            **request.context, "subject": subject, "url": request.url, "kind": kind_def,
        }
        body = render_part(kind_def, "body.txt", template_context, templates)
        if len(body) > BODY_MAX_LENGTH:
            body = body[: BODY_MAX_LENGTH - 1] + "…"
        title = render_part(kind_def, "title.txt", template_context, templates)[:200]
        rendered[key] = (title, body)
    return rendered[key]


def _request_columns(request: _Prepared, templates: dict, rendered: dict) -> dict:
    """What every row of one request shares, rendered once: the texts depend on the context,
    not on the recipient."""
    kind_def = request.kind_def
    title, body = _texts(request, templates, rendered)
    subject = request.subject
    return {
        "kind": kind_def.key,
        "priority": request.priority,
        "title": title,
        "body": body,
        "url": request.url,
        "content_type_id": (
            ContentType.objects.get_for_model(subject).pk if subject is not None else None
        ),
        "object_id": subject.pk if subject is not None else None,
        "data": request.context,
        "dedupe_key": request.dedupe_key,
    }


def _insert_rows(rows: list[_Row], columns: list[dict], now: datetime) -> None:
    """Insert the rows (skipping (recipient, dedupe_key) pairs that exist) and set the
    ``notification_id`` of those this call created.

    A column every request gives the same value goes once for all rows; the others go per row.
    """
    requests = sorted({row.request for row in rows})
    shared = {
        name: columns[requests[0]][name]
        for name in _REQUEST_COLUMNS
        if all(columns[index][name] == columns[requests[0]][name] for index in requests)
    }
    per_row = [name for name in _REQUEST_COLUMNS if name not in shared]
    varying = {
        "recipient_id": [row.target.user_id for row in rows],
        "in_app": [bool(row.target.on_in_app) for row in rows],
        "silenced": [
            Silenced.QUIET_HOURS if row.target.on_in_app and row.quiet_until else Silenced.NO
            for row in rows
        ],
        **{name: [columns[row.request][name] for row in rows] for name in per_row},
    }
    constant = {**shared, "created_at": now}
    if bulk.supports_set_insert():
        returning = ("id", "recipient", "dedupe_key")
        created = bulk.insert_rows(
            Notification, varying=varying, constant=constant,
            conflict_fields=("recipient", "dedupe_key"), returning=returning,
        )
    else:
        created = []
        names = list(varying)
        for start in range(0, len(rows), CHUNK_SIZE):
            chunk = range(start, min(start + CHUNK_SIZE, len(rows)))
            Notification.objects.bulk_create(
                [
                    Notification(**{name: varying[name][i] for name in names}, **constant)
                    for i in chunk
                ],
                ignore_conflicts=True,
            )
            # The rows this call made: the same creation instant and (recipient, dedupe_key).
            keys = {(varying["recipient_id"][i], columns[rows[i].request]["dedupe_key"])
                    for i in chunk}
            created.extend(
                row for row in Notification.objects.filter(
                    created_at=now, recipient_id__in={user_id for user_id, _ in keys},
                ).values_list("pk", "recipient_id", "dedupe_key")
                if (row[1], row[2]) in keys
            )
    # Of two rows with the same (recipient, dedupe_key) the first went in, the other was skipped.
    first_row = {}
    for row in rows:
        first_row.setdefault((row.target.user_id, columns[row.request]["dedupe_key"]), row)
    for notification_id, user_id, dedupe_key in created:
        first_row[(user_id, dedupe_key)].notification_id = notification_id


def _apply_rate_limit(rows: list[_Row], prepared: list[_Prepared], now: datetime) -> dict:
    """Count the new rows against each recipient's limit per kind (urgent ones and the summary
    itself are never limited), mark and silence those past it. Returns {kind: [user ids that
    just went over]}, who get one "and N more" summary when the window ends.

    The counters move here, before the caller commits, because the silenced flag is written in
    the same transaction: a fan-out that is rolled back still counts against the window. The
    limit counts attempts, so a rollback can only make it stricter for the rest of that window,
    never let more through.
    """
    limit, window_seconds = _rate_limit_settings()
    window = rate_limit_window(now)
    by_kind: dict[str, list[_Row]] = {}
    for row in rows:
        request = prepared[row.request]
        if not request.urgent and request.kind_def.key != RATE_LIMIT_SUMMARY:
            by_kind.setdefault(request.kind_def.key, []).append(row)
    first_over: dict[str, list[int]] = {}
    for kind, kind_rows in by_kind.items():
        try:
            over = counters.incr_window_positions(
                f"notifications:rate:{kind}:{{}}:{window}",
                [row.target.user_id for row in kind_rows],
                ttl=window_seconds + 60,
                above=limit,
            )
        except counters.CACHE_ERRORS:
            # Without the cache nothing is limited: better a burst than a lost notification.
            logger.warning("Rate limit skipped for %s: the cache is unavailable", kind,
                           exc_info=True)
            continue
        for position, count in over.items():
            kind_rows[position].rate_limited = True
            if count == limit + 1:
                first_over.setdefault(kind, []).append(kind_rows[position].target.user_id)
    limited = sorted(row.notification_id for row in rows if row.rate_limited)
    for ids in _chunks(limited):
        Notification.objects.filter(pk__any_of=ids).update(silenced=Silenced.RATE_LIMIT)
    return first_over


class PlannedDelivery(NamedTuple):
    notification_id: int
    channel: str
    due: datetime  # now, or the end of the recipient's quiet hours


class SkippedDelivery(NamedTuple):
    notification_id: int
    channel: str  # on, but the address is unconfirmed: recorded with the reason, never sent


def _plan_deliveries(
    created: list[_Row], now: datetime
) -> tuple[list[PlannedDelivery], list[SkippedDelivery]]:
    """One Delivery per extra channel of each new row that is not rate-limited."""
    planned: list[PlannedDelivery] = []
    skipped: list[SkippedDelivery] = []
    for row in created:
        if row.rate_limited:
            continue
        target = row.target
        due = row.quiet_until or now
        enabled = (target.on_email, target.on_push, target.on_sms, target.on_mobile)
        for channel, on in zip(EXTERNAL_CHANNELS, enabled):
            if on:
                planned.append(PlannedDelivery(row.notification_id, channel, due))
        for channel, skip in ((Channel.EMAIL, target.skip_email), (Channel.SMS, target.skip_sms)):
            if skip:
                skipped.append(SkippedDelivery(row.notification_id, channel))
    return planned, skipped


# Outside a transaction the rows and their deliveries still commit together; inside the caller's
# transaction it adds no savepoint (one fewer round trip per call). Bad arguments are refused
# before this point, so they never mark the caller's transaction for rollback.
@transaction.atomic(savepoint=False)
def _fan_out(prepared: list[_Prepared]) -> list[NotifyResult]:
    now = timezone.now()

    # 1. Recipients and their channels. In recipient order: two fan-outs to overlapping users
    # then wait for each other's rows in the same order instead of deadlocking.
    targets = _targets_of(prepared)
    if not any(targets):
        return [NotifyResult() for _ in prepared]
    quiet_until = _quiet_until(
        (t for index, ts in enumerate(targets) if not prepared[index].urgent for t in ts), now
    )

    # 2. Render once per request; 3. insert, a (recipient, dedupe_key) that exists is skipped.
    templates, rendered = {}, {}
    columns = [_request_columns(request, templates, rendered) if targets[index] else None
               for index, request in enumerate(prepared)]
    rows = [
        _Row(index, target, None if prepared[index].urgent else quiet_until.get(target.user_id))
        for index, request_targets in enumerate(targets)
        for target in request_targets
    ]
    rows.sort(key=lambda row: row.target.user_id)  # stable: request order among equals
    _insert_rows(rows, columns, now)
    created = [row for row in rows if row.notification_id is not None]
    if not created:
        return [NotifyResult(duplicates=len(ts)) for ts in targets]
    # What the rows owe after commit, recorded with them: the relay redoes it if it never goes out.
    relays = _record_relays(created, prepared, now)

    # 4. Rate limit per recipient and kind.
    first_over = _apply_rate_limit(created, prepared, now)

    # 5. One Delivery row per extra channel; quiet hours defer all but urgent.
    planned, skipped = _plan_deliveries(created, now)
    delivery_ids = _insert_deliveries(planned, now)
    _insert_skipped_deliveries(skipped, now)
    due_deliveries: dict[int, list[int]] = {}  # notification id → its deliveries due now
    for delivery_id, delivery in zip(delivery_ids, planned):
        if delivery.due <= now:
            due_deliveries.setdefault(delivery.notification_id, []).append(delivery_id)

    # 6. After commit: badges, toasts, provider deliveries, the rate-limit summaries; one batch
    # per kind and priority.
    _schedule_owed(created, prepared, relays, due_deliveries, first_over, now)

    by_request: dict[int, list[_Row]] = {}
    for row in created:
        by_request.setdefault(row.request, []).append(row)
    deliveries_of: dict[int, list[int]] = {}
    for delivery_id, delivery in zip(delivery_ids, planned):
        deliveries_of.setdefault(delivery.notification_id, []).append(delivery_id)
    results = []
    for index, request_targets in enumerate(targets):
        mine = by_request.get(index, [])
        results.append(NotifyResult(
            created=len(mine),
            duplicates=len(request_targets) - len(mine),
            silenced=sum(
                1 for row in mine
                if row.target.on_in_app and (row.rate_limited or row.quiet_until)
            ),
            rate_limited=sum(1 for row in mine if row.rate_limited),
            notification_ids=[row.notification_id for row in mine],
            delivery_ids=[
                delivery_id for row in mine
                for delivery_id in deliveries_of.get(row.notification_id, ())
            ],
        ))
    return results


def _record_relays(
    created: list[_Row], prepared: list[_Prepared], now: datetime
) -> dict[tuple[str, str], int]:
    """One ``NotifyRelay`` row per kind and priority of the created rows; {(kind, priority): its
    id}. The relay finds a call's rows by kind, creation instant and ``dedupe_key``; a batch of
    several keys leaves the key blank, and the relay takes every row of the kind made at that
    instant (another call's at the same microsecond would be sent again, which is harmless)."""
    keys: dict[tuple[str, str], set[str]] = {}
    for row in created:
        request = prepared[row.request]
        keys.setdefault((request.kind_def.key, request.priority), set()).add(request.dedupe_key)
    relays = NotifyRelay.objects.bulk_create([
        NotifyRelay(
            kind=kind, priority=priority, notified_at=now,
            dedupe_key=next(iter(dedupe_keys)) if len(dedupe_keys) == 1 else "",
        )
        for (kind, priority), dedupe_keys in keys.items()
    ])
    return {key: relay.pk for key, relay in zip(keys, relays)}


def _schedule_owed(
    created: list[_Row], prepared: list[_Prepared], relays: dict[tuple[str, str], int],
    due_deliveries: dict, first_over: dict[str, list[int]], now: datetime,
) -> None:
    """Register the after-commit work of the created rows, one ``OwedWork`` per kind and
    priority. The rows are committed and are the record: a broker or Redis failure then is
    logged, not raised into the caller's response; the relay redoes what did not go out."""
    groups: dict[tuple[str, str], list[_Row]] = {}
    for row in created:
        request = prepared[row.request]
        groups.setdefault((request.kind_def.key, request.priority), []).append(row)
    summaries_sent = set()
    for (kind, priority), rows in groups.items():
        in_app = [row for row in rows if row.target.on_in_app]
        toasts = [row for row in in_app if not row.rate_limited and not row.quiet_until]
        owed = OwedWork(
            kind=kind,
            priority=priority,
            in_app_recipients=[row.target.user_id for row in in_app],
            toast_ids=[row.notification_id for row in toasts],
            toast_recipients=[row.target.user_id for row in toasts],
            due_delivery_ids=[
                delivery_id for row in rows
                for delivery_id in due_deliveries.get(row.notification_id, ())
            ],
            # One summary per kind, with the first batch of that kind.
            first_over=[] if kind in summaries_sent else first_over.get(kind, []),
            now=now,
            # One notify() (one change, told to its audience) is what a page waits for; a batch
            # of many requests (the bulk API) keeps its request short and queues the push.
            push_inline=len(prepared) == 1,
        )
        summaries_sent.add(kind)
        transaction.on_commit(
            partial(_send_owed, owed, relay_id=relays[(kind, priority)]), robust=True
        )
        rate_limited_in_app = sum(1 for row in in_app if row.rate_limited)
        transaction.on_commit(
            partial(
                metrics.notifications_created,
                kind=kind,
                priority=priority,
                created=len(rows),
                quiet_hours=len(in_app) - len(toasts) - rate_limited_in_app,
                rate_limited=rate_limited_in_app,
                in_app_off=len(rows) - len(in_app),
            )
        )


@dataclass(frozen=True)
class OwedWork:
    """What one notify() call sends after commit (``_send_owed``)."""

    kind: str
    priority: str
    in_app_recipients: list[int]
    toast_ids: list[int]
    toast_recipients: list[int]
    due_delivery_ids: list[int]
    first_over: list[int]
    now: datetime
    # The relay counts badges afresh instead of adding: it cannot know what was added before.
    recount: bool = False
    # Toasts pushed by this process at commit (up to NOTIFICATIONS_INLINE_PUSH_MAX), not queued.
    push_inline: bool = False


def _send_owed(work: OwedWork, *, relay_id: int | None) -> bool:
    """Badges, toasts, provider deliveries and rate-limit summaries, each step on its own: a
    failing one (Redis, the broker) is logged and the others still run. When all went out the
    relay row is deleted; otherwise it stays for the relay. Returns whether all went out."""
    from notifications.delivery import enqueue_deliveries  # delivery.services imports this module

    queue = queue_for(work.priority)

    def counters_step():
        if work.recount:
            for user_id in work.in_app_recipients:
                counters.forget_unread(user_id)
        else:
            # A batch of several notify() calls can hold a recipient more than once.
            counters.adjust_unread_many(Counter(work.in_app_recipients))

    def toasts_step():
        if work.push_inline and 0 < len(work.toast_ids) <= settings.NOTIFICATIONS_INLINE_PUSH_MAX:
            # A broker hop and a worker's turn cost more than the push itself: the pages see a
            # small fan-out as soon as it commits, and an urgent one never waits behind a queue.
            started = timezone.now().timestamp()
            metrics.inapp_pushed(count=push.push_notifications(work.toast_ids), since=started)
            return
        for ids in _chunks(work.toast_ids, PUSH_BATCH_SIZE):
            enqueue("notifications.tasks.push_in_app", [ids], queue=queue)

    def badges_step():
        # Rows stored silently (quiet hours, rate limit) make no toast, but open pages' badges
        # still show the new count.
        silent_recipients = sorted(set(work.in_app_recipients) - set(work.toast_recipients))
        for user_ids in _chunks(silent_recipients, PUSH_BATCH_SIZE):
            enqueue("notifications.tasks.push_badges", [user_ids], queue=queue_for(Priority.LOW))

    def deliveries_step():
        if work.due_delivery_ids:
            enqueue_deliveries(work.due_delivery_ids, priority=work.priority)

    def summaries_step():
        if work.first_over:
            window = rate_limit_window(work.now)
            window_end = (window + 1) * _rate_limit_settings()[1]
            enqueue(
                "notifications.tasks.send_rate_limit_summaries",
                kwargs={"kind": work.kind, "user_ids": work.first_over, "window": window},
                countdown=max(0, window_end - int(timezone.now().timestamp())),
            )

    failed = []
    for name, step in (
        ("unread counters", counters_step),
        ("in-app push", toasts_step),
        ("badges", badges_step),
        ("deliveries", deliveries_step),
        ("rate-limit summaries", summaries_step),
    ):
        try:
            step()
        except Exception:
            failed.append(name)
            logger.warning(
                "After notify(%s): the %s step failed; the relay sends it again from the "
                "database", work.kind, name, exc_info=True,
            )
    if failed:
        return False
    if relay_id is not None:
        try:
            _delete_relay(relay_id)
        except DatabaseError:
            # All went out; the relay will send it once more, which the pages and the delivery
            # claims absorb (at-least-once).
            logger.warning("Relay row %s not deleted", relay_id, exc_info=True)
    return True


def _delete_relay(relay_id: int) -> None:
    # One statement: QuerySet.delete() wraps even a plain delete in a transaction of its own
    # (BEGIN, DELETE, COMMIT), three round trips after every notify().
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(NotifyRelay._meta.db_table)} WHERE "
            f"{connection.ops.quote_name(NotifyRelay._meta.pk.column)} = %s",
            [relay_id],
        )


RELAY_BATCH = 100


def notifications_relay(*, grace_seconds: int | None = None) -> int:
    """Send again what committed notify() calls still owe (their relay rows outlived
    ``NOTIFICATIONS_RELAY_GRACE_SECONDS``), rebuilt from the stored notifications. Idempotent:
    pushes are deduped by the pages, deliveries by their claims, summaries by their key.
    Returns how many calls were fully relayed."""
    grace = settings.NOTIFICATIONS_RELAY_GRACE_SECONDS if grace_seconds is None else grace_seconds
    cutoff = timezone.now() - timedelta(seconds=grace)
    relayed = 0
    for relay in NotifyRelay.objects.filter(created_at__lte=cutoff).order_by("id")[:RELAY_BATCH]:
        NotifyRelay.objects.filter(pk=relay.pk).update(attempts=F("attempts") + 1)
        calls_rows = Notification.objects.filter(kind=relay.kind, created_at=relay.notified_at)
        if relay.dedupe_key:  # blank: a batch of several keys (see _record_relays)
            calls_rows = calls_rows.filter(dedupe_key=relay.dedupe_key)
        rows = list(
            calls_rows.values_list("pk", "recipient_id", "in_app", "silenced", "is_read", "dismissed_at")
        )
        in_app = [row for row in rows if row[2]]
        toasts = [
            row for row in in_app
            if row[3] == Silenced.NO and not row[4] and row[5] is None
        ]
        due_deliveries = list(
            Delivery.objects.filter(
                notification_id__in=[row[0] for row in rows],
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at__lte=timezone.now(),
            ).values_list("pk", flat=True)
        )
        work = OwedWork(
            kind=relay.kind,
            priority=relay.priority,
            in_app_recipients=[row[1] for row in in_app],
            toast_ids=[row[0] for row in toasts],
            toast_recipients=[row[1] for row in toasts],
            due_delivery_ids=due_deliveries,
            first_over=sorted({row[1] for row in rows if row[3] == Silenced.RATE_LIMIT}),
            now=relay.notified_at,
            recount=True,
        )
        if _send_owed(work, relay_id=relay.pk):
            relayed += 1
            logger.warning(
                "Relayed notify(%s, %s) from %s: %d toasts, %d deliveries sent late",
                relay.kind, relay.dedupe_key, relay.notified_at, len(work.toast_ids),
                len(due_deliveries),
            )
    return relayed


def rate_limit_summaries_send(*, kind: str, user_ids: list[int], window: int) -> int:
    """One "and N more" notification per user for the rows of ``kind`` the rate limit silenced
    in ``window``. Idempotent (one summary per user, kind and window). Returns rows created."""
    from django.db.models import Count

    window_seconds = _rate_limit_settings()[1]
    start = datetime.fromtimestamp(window * window_seconds, tz=dt_timezone.utc)
    end = datetime.fromtimestamp((window + 1) * window_seconds, tz=dt_timezone.utc)
    silenced_counts = (
        Notification.objects.filter(
            recipient_id__in=user_ids,
            kind=kind,
            silenced=Silenced.RATE_LIMIT,
            created_at__gte=start,
            created_at__lt=end,
        )
        .values("recipient_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    users_by_count: dict[int, list[int]] = {}
    for row in silenced_counts:
        users_by_count.setdefault(row["count"], []).append(row["recipient_id"])
    created = 0
    label = get_kind(kind).label
    with transaction.atomic():
        for count, users in users_by_count.items():
            created += notify(
                kind=RATE_LIMIT_SUMMARY,
                recipients=users,
                context={"summarised_kind": kind, "summarised_label": label, "count": count},
                dedupe_key=f"rate-limit:{kind}:{window}",
                url="/notifications/",
            ).created
    return created


# --- Read state -----------------------------------------------------------------------------


def _visible(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, in_app=True, dismissed_at__isnull=True)


def _unread_changed(user_id: int, delta: int, *, recount: bool = False) -> None:
    """After commit: move the user's counter by ``delta`` (or drop it to be counted again) and
    refresh the badge on open pages."""
    if not delta and not recount:
        return
    transaction.on_commit(partial(_apply_unread_change, user_id, delta, recount), robust=True)


def _apply_unread_change(user_id: int, delta: int, recount: bool) -> None:
    if recount:
        counters.forget_unread(user_id)
    else:
        counters.adjust_unread_many({user_id: delta})
    push.push_badges([user_id])


def notification_mark_read(*, user, notification_id: int) -> bool:
    """Mark one of ``user``'s notifications read. Idempotent: True only when it changed.

    Raises Notification.DoesNotExist for another user's (or a dismissed) notification.
    """
    mine = _visible(user).filter(pk=notification_id)
    changed = mine.filter(is_read=False).update(is_read=True, read_at=timezone.now())
    if not changed and not mine.exists():
        raise Notification.DoesNotExist(notification_id)
    _unread_changed(user.pk, -changed)
    return bool(changed)


def notification_mark_unread(*, user, notification_id: int) -> bool:
    """Mark one of ``user``'s notifications unread again. Idempotent; raises DoesNotExist."""
    mine = _visible(user).filter(pk=notification_id)
    changed = mine.filter(is_read=True).update(is_read=False, read_at=None)
    if not changed and not mine.exists():
        raise Notification.DoesNotExist(notification_id)
    _unread_changed(user.pk, changed)
    return bool(changed)


def notification_mark_all_read(*, user) -> int:
    """Mark every unread notification of ``user`` read; returns how many changed."""
    changed = _visible(user).filter(is_read=False).update(is_read=True, read_at=timezone.now())
    # A natural moment to heal any drift: the badge is counted afresh on the next read.
    _unread_changed(user.pk, -changed, recount=True)
    return changed


def notification_dismiss(*, user, notification_id: int) -> bool:
    """Hide one notification from the center (it counts as read). Idempotent; raises
    DoesNotExist for another user's notification."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(recipient=user, in_app=True, pk=notification_id)
            .only("pk", "is_read", "read_at", "dismissed_at")
            .get()
        )
        if notification.dismissed_at is not None:
            return False
        now = timezone.now()
        was_unread = not notification.is_read
        Notification.objects.filter(pk=notification.pk).update(
            dismissed_at=now, is_read=True, read_at=notification.read_at or now
        )
        _unread_changed(user.pk, -1 if was_unread else 0)
    return True


def notification_dismiss_all(*, user) -> tuple[int, datetime]:
    """Hide every notification in ``user``'s center ("Clear all"); they count as read.

    Returns how many were cleared and the moment that marks them, which
    ``notification_restore_cleared`` takes to undo exactly this clear.
    """
    now = timezone.now()
    with transaction.atomic():
        # Rows unread until now get read_at = now: the undo tells them from rows read before.
        visible = _visible(user)
        unread = visible.filter(is_read=False).update(dismissed_at=now, is_read=True, read_at=now)
        read = visible.filter(is_read=True).update(dismissed_at=now)
        _unread_changed(user.pk, -unread, recount=True)
    return unread + read, now


def notification_restore_cleared(*, user, cleared_at: datetime) -> int:
    """Undo one "Clear all": the rows it hid come back, the unread ones unread again.

    Only ``user``'s rows dismissed at exactly ``cleared_at`` move; idempotent (0 the second time).
    """
    with transaction.atomic():
        cleared = Notification.objects.filter(
            recipient=user, in_app=True, dismissed_at=cleared_at
        )
        unread = cleared.filter(read_at=cleared_at).update(
            dismissed_at=None, is_read=False, read_at=None
        )
        read = cleared.update(dismissed_at=None)
        _unread_changed(user.pk, unread, recount=True)
    return unread + read


def notification_record_seen(*, user, notification_ids: Iterable[int]) -> int:
    """Record the first time these notifications were shown to ``user`` (others' are ignored)."""
    return (
        Notification.objects.filter(recipient=user, pk__in=list(notification_ids), seen_at=None)
        .update(seen_at=timezone.now())
    )


def notification_record_click(*, user, notification_id: int) -> Notification:
    """The user followed the notification's link: record the first click and mark it read.

    Returns the notification (for its url); raises DoesNotExist for another user's.
    """
    notification = _visible(user).get(pk=notification_id)
    now = timezone.now()
    Notification.objects.filter(pk=notification.pk, clicked_at=None).update(clicked_at=now)
    Notification.objects.filter(pk=notification.pk, seen_at=None).update(seen_at=now)
    notification_mark_read(user=user, notification_id=notification.pk)
    notification.refresh_from_db()
    return notification


# --- Subscriptions and preferences ----------------------------------------------------------


def _validate_kinds(kinds: Iterable[str] | None) -> list[str]:
    kinds = sorted(set(kinds or []))
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ValueError(f"Unknown notification kind(s): {', '.join(unknown)}")
    return kinds


def subscription_follow(*, user, topic: str, kinds: Iterable[str] | None = None) -> Subscription:
    """``user`` follows ``topic`` (``models.topic_for(obj)``) for ``kinds`` (None/empty = all).
    Idempotent: following again updates the kinds."""
    subscription, _ = Subscription.objects.update_or_create(
        user=user, topic=topic, defaults={"kinds": _validate_kinds(kinds)}
    )
    return subscription


def subscription_unfollow(*, user, topic: str) -> bool:
    """Stop following ``topic``. Idempotent: False when there was nothing to remove."""
    deleted, _ = Subscription.objects.filter(user=user, topic=topic).delete()
    return bool(deleted)


def preference_set(*, user, kind: str, channel: str, enabled: bool) -> Preference:
    """Turn one (kind, channel) on or off for ``user``; idempotent."""
    get_kind(kind)
    if channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}")
    preference, _ = Preference.objects.update_or_create(
        user=user, kind=kind, channel=channel, defaults={"enabled": enabled}
    )
    return preference


def quiet_hours_set(*, user, start: time, end: time, time_zone: str = "UTC") -> QuietHours:
    """Set ``user``'s daily quiet hours (``end`` before ``start`` wraps midnight)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {time_zone!r}") from None
    quiet, _ = QuietHours.objects.update_or_create(
        user=user, defaults={"start": start, "end": end, "time_zone": time_zone}
    )
    return quiet


def quiet_hours_clear(*, user) -> bool:
    deleted, _ = QuietHours.objects.filter(user=user).delete()
    return bool(deleted)


# --- Retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeResult:
    read: int
    unread: int


def _purge_where(
    condition: Q, *, batch_size: int, with_recipients: bool = False
) -> tuple[int, set[int]]:
    """Delete rows matching ``condition`` in key ranges of at most ``batch_size`` rows, each in
    its own short transaction, so no lock is held for long. Returns (rows, recipients), the
    recipients only when asked for."""
    total, after, recipients = 0, 0, set()
    while True:
        ids = list(
            Notification.objects.filter(condition, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return total, recipients
        with transaction.atomic():
            in_range = Notification.objects.filter(condition, pk__gte=ids[0], pk__lte=ids[-1])
            if with_recipients:
                recipients.update(
                    in_range.order_by().values_list("recipient_id", flat=True).distinct()
                )
            # Only ids are loaded: the deliveries go by one DELETE ... WHERE notification_id IN.
            _, per_model = in_range.only("pk").delete()
        total += per_model.get(Notification._meta.label, 0)
        after = ids[-1]


def notifications_purge(*, now: datetime | None = None) -> PurgeResult:
    """Delete read rows older than NOTIFICATIONS_READ_RETENTION_DAYS (by read time) and unread
    rows older than NOTIFICATIONS_UNREAD_RETENTION_DAYS (by creation). Idempotent."""

    now = now or timezone.now()
    batch_size = settings.NOTIFICATIONS_PURGE_BATCH_SIZE
    read_cutoff = now - timedelta(days=settings.NOTIFICATIONS_READ_RETENTION_DAYS)
    unread_cutoff = now - timedelta(days=settings.NOTIFICATIONS_UNREAD_RETENTION_DAYS)
    read, _ = _purge_where(Q(is_read=True, read_at__lt=read_cutoff), batch_size=batch_size)
    unread, touched = _purge_where(
        Q(is_read=False, created_at__lt=unread_cutoff), batch_size=batch_size, with_recipients=True
    )
    # Unread rows went away: those badges are rebuilt from the database on their next read.
    for user_id in touched:
        counters.forget_unread(user_id)
    return PurgeResult(read=read, unread=unread)
