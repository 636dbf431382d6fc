"""Writes behind the HTTP API: API keys, the per-key rate limit, idempotent notify()."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.client_address import remote_addr

from notifications import counters
from notifications.models import ApiIdempotencyRecord, ApiKey
from notifications.selectors import subscribers
from notifications.services import NotifyRequest, notify_many

LAST_USED_RESOLUTION = timedelta(minutes=1)


class ScopeRefused(Exception):
    """The API key's scopes (kinds, urgency, recipient groups) do not cover this request."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used with a different body."""


class UnknownSubject(ValueError):
    """The ``subject`` reference names no object an API client may name."""


@dataclass(frozen=True)
class ApiResult:
    status_code: int
    body: dict
    replayed: bool = False


def api_key_issue(*, api_key: ApiKey) -> str:
    """Give an unsaved ApiKey its secret and save it. Returns the raw key: show it once, it is
    not stored (only its hash is)."""
    raw_key, prefix = ApiKey.generate()
    api_key.prefix = prefix
    api_key.hashed_key = ApiKey.hash(raw_key)
    api_key.save()
    return raw_key


def api_key_create(
    *, name: str, kinds: list[str] = (), allow_urgent: bool = False, recipient_groups=()
) -> tuple[ApiKey, str]:
    """A new named API key and its raw value (shown once), with its scopes: the kinds it may
    send (none: every public kind), whether urgent ones, and the groups recipients must be in
    (none: any user)."""
    api_key = ApiKey(name=name, kinds=list(kinds), allow_urgent=allow_urgent)
    raw_key = api_key_issue(api_key=api_key)
    if recipient_groups:
        api_key.recipient_groups.set(recipient_groups)
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke a key (requests with it get 403 from then on). Returns False if already revoked."""
    return bool(
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def api_key_touch(*, api_key: ApiKey) -> None:
    """Note that the key was used; at most one write a minute per key."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate(rate: str) -> tuple[int, int]:
    """``"20/m"`` → (20, 60): a count per window of seconds (``"5/10s"``: per 10 seconds)."""
    count, _, per = rate.partition("/")
    multiple, unit = per[:-1], per[-1:]
    return int(count), int(multiple or 1) * _RATE_UNITS[unit]


def _retry_after(window_seconds: int, now: float) -> int:
    """Seconds until the fixed window that ``now`` falls in ends (at least 1)."""
    return max(1, math.ceil((int(now // window_seconds) + 1) * window_seconds - now))


# Fixed windows counted in Redis rather than django-ninja's throttles: those keep a list of
# request times per client in the cache, read and written back by every request (two round
# trips, a pickled list as long as the limit, and concurrent requests in two web processes
# overwrite each other's updates, so the limit undercounts). Here one script checks the address's
# failed guesses and counts the key's request in one atomic round trip.
def api_request_throttle(*, api_key: ApiKey | None, request=None) -> int:
    """0 when the request may go on, else the seconds to wait (the ``Retry-After``).

    An active ``api_key`` is counted against ``API_RATE_LIMIT_PER_MINUTE``; with the
    ``request``, a client address with more than ``API_INVALID_KEY_RATE_LIMIT`` unknown keys is
    refused whatever key it sends, and an unknown key (``api_key`` None) counts as one more
    guess. Keyed by ``REMOTE_ADDR`` like the login throttle, so a forged X-Forwarded-For does not
    reset it. A refused address gets the same answer for a right and a wrong key, so its guesses
    learn nothing even though the key was looked up first.
    """
    now = time.time()
    guesses_allowed, guess_window = _rate(settings.API_INVALID_KEY_RATE_LIMIT)
    address = remote_addr(None, request) if request is not None else ""
    guard = f"api:guesses:{address}:{int(now // guess_window)}"
    counter = None
    if api_key is not None and api_key.is_active:
        counter = f"api:rate:{api_key.pk}:{int(now // 60)}"
    guesses, count = counters.guarded_incr(
        guard, counter, guard_limit=guesses_allowed, ttl=120
    )
    if address and guesses > guesses_allowed:
        return _retry_after(guess_window, now)
    if api_key is None:
        if address and counters.incr_window(guard, ttl=guess_window + 60) > guesses_allowed:
            return _retry_after(guess_window, now)
        return 0
    if count > settings.API_RATE_LIMIT_PER_MINUTE:
        return _retry_after(60, now)
    return 0


def idempotency_cutoff() -> datetime:
    """Records older than this are forgotten: the same Idempotency-Key then counts as new."""
    return timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_RETENTION_HOURS)


def api_idempotency_purge() -> int:
    """Delete the expired idempotency records (nightly, with the notification purge)."""
    deleted, _ = ApiIdempotencyRecord.objects.filter(created_at__lt=idempotency_cutoff()).delete()
    return deleted


def request_fingerprint(payload) -> str:
    """A hash of the JSON body that ignores key order and whitespace."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _KeyTaken(Exception):
    """The Idempotency-Key has a live record already: the transaction that found it rolls back."""


def _record_answer(*, api_key: ApiKey, idempotency_key: str, fingerprint: str, body: dict) -> bool:
    """Store the answer of (API key, Idempotency-Key) in one statement; False when the key has a
    record that has not expired (an expired one is replaced: the purge had not run yet)."""
    meta = ApiIdempotencyRecord._meta
    quote = connection.ops.quote_name
    now = timezone.now()
    values = {
        "api_key": api_key.pk, "idempotency_key": idempotency_key, "request_hash": fingerprint,
        "status_code": 201, "response": body, "created_at": now,
    }
    fields = [meta.get_field(name) for name in values]
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    table = quote(meta.db_table)
    columns = [quote(field.column) for field in fields]
    updated = ", ".join(f"{column} = excluded.{column}" for column in columns[2:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({columns[0]}, {columns[1]}) DO UPDATE SET {updated} "
            f"WHERE {table}.{quote(meta.get_field('created_at').column)} < %s "
            f"RETURNING {quote(meta.pk.column)}",
            [*params, meta.get_field("created_at").get_db_prep_save(
                idempotency_cutoff(), connection)],
        )
        return cursor.fetchone() is not None


def _idempotent(
    *, api_key: ApiKey, idempotency_key: str, fingerprint: str, create: Callable[[], dict]
) -> ApiResult:
    """``create()`` (which notifies and returns the answer's body) exactly once per (API key,
    Idempotency-Key), in one transaction with the record of its answer.

    A repeat with the same body gets the first answer again (``replayed``); a repeat with another
    body raises ``IdempotencyConflict``. The record is written last, in one statement with the
    answer: a new key costs that one ``INSERT``. A repeat runs ``create()`` too (its
    notifications are skipped as duplicates, by their dedupe keys), finds the record taken and
    rolls back, so nothing it did is kept or sent (a repeat with another body counts against
    its recipients' rate-limit windows, as any rolled-back notify does). Two identical requests racing each other are
    serialised by the unique indexes: the second waits for the first to commit, then replays.
    """
    try:
        with transaction.atomic():
            body = create()
            if not _record_answer(
                api_key=api_key, idempotency_key=idempotency_key, fingerprint=fingerprint,
                body=body,
            ):
                raise _KeyTaken
    except _KeyTaken:
        earlier = ApiIdempotencyRecord.objects.get(api_key=api_key, idempotency_key=idempotency_key)
        if earlier.request_hash != fingerprint:
            raise IdempotencyConflict from None
        return ApiResult(earlier.status_code, earlier.response, replayed=True)
    return ApiResult(201, body)


def _notify_request(*, api_key: ApiKey, payload, subject, dedupe_key: str) -> NotifyRequest:
    """The notify() arguments of one validated ``NotificationIn``.

    Recipients named by id stay a list (requests of one kind then share one recipient query);
    with a topic they are a queryset that also takes the topic's followers (within the key's
    recipient groups, when it has any).
    """
    recipients = list(payload.recipients)
    if payload.topic:
        followers = subscribers(topic=payload.topic, kind=payload.kind)
        groups = api_key.recipient_group_ids
        if groups:
            followers = followers.filter(groups__in=groups)
        recipients = get_user_model().objects.filter(
            Q(pk__in=recipients) | Q(pk__in=followers.values("pk"))
        )
    return NotifyRequest(
        kind=payload.kind,
        recipients=recipients,
        subject=subject,
        context=payload.context,
        # Namespaced per key: another service (or Herald itself) cannot collide with it.
        dedupe_key=f"api:{api_key.pk}:{payload.dedupe_key or dedupe_key}",
        priority=payload.priority,
        url=payload.url,
    )


def _answer(result) -> dict:
    return {
        "created": result.created,
        "duplicates": result.duplicates,
        "notification_ids": result.notification_ids,
    }


def _checked_subjects(*, api_key: ApiKey, payloads: list, label) -> list:
    """Each payload's subject object, after checking the key's scopes for all of them (one
    query for the recipient groups). ``label(index)`` prefixes a message with the payload's
    place. Raises ``ScopeRefused`` or ``UnknownSubject``."""
    from notifications.api.selectors import api_kind_refusal, api_recipients_refusal, subject_for

    for index, payload in enumerate(payloads):
        refusal = api_kind_refusal(api_key=api_key, kind=payload.kind, priority=payload.priority)
        if refusal:
            raise ScopeRefused(label(index) + refusal)
    refusal = api_recipients_refusal(
        api_key=api_key,
        recipient_ids=sorted({user_id for payload in payloads for user_id in payload.recipients}),
    )
    if refusal:
        raise ScopeRefused(refusal)
    subjects, found = [], {}
    for index, payload in enumerate(payloads):
        subject = None
        if payload.subject:
            if payload.subject not in found:
                found[payload.subject] = subject_for(reference=payload.subject)
            subject = found[payload.subject]
            if subject is None:
                raise UnknownSubject(f"{label(index)}Unknown subject {payload.subject!r}")
        subjects.append(subject)
    return subjects


def api_notification_send(
    *, api_key: ApiKey, idempotency_key: str, payload, body: dict
) -> ApiResult:
    """notify() for an API client's validated ``NotificationIn`` and the body it came from (the
    fingerprint), exactly once per (API key, Idempotency-Key). Shared by the HTTP API and
    GraphQL's ``sendNotification``.

    Raises ``ScopeRefused`` (the key may not send this), ``UnknownSubject`` and
    ``IdempotencyConflict``.
    """
    (subject,) = _checked_subjects(api_key=api_key, payloads=[payload], label=lambda index: "")
    request = _notify_request(
        api_key=api_key, payload=payload, subject=subject, dedupe_key=idempotency_key
    )
    return _idempotent(
        api_key=api_key,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint(body),
        create=lambda: _answer(notify_many([request])[0]),
    )


def api_notifications_send_many(
    *, api_key: ApiKey, idempotency_key: str, payloads: list, body: dict
) -> ApiResult:
    """``api_notification_send`` for many ``NotificationIn`` under one Idempotency-Key, all or
    nothing, through one ``notify_many``. A notification without its own ``dedupe_key`` gets the
    Idempotency-Key and its position, so two of them for one recipient are two notifications.

    The answer has one result per notification, in order, and the totals.
    """
    subjects = _checked_subjects(
        api_key=api_key, payloads=payloads, label=lambda index: f"notifications[{index}]: "
    )
    requests = [
        _notify_request(
            api_key=api_key, payload=payload, subject=subject,
            dedupe_key=f"{idempotency_key}#{index}",
        )
        for index, (payload, subject) in enumerate(zip(payloads, subjects))
    ]

    def create() -> dict:
        results = [_answer(result) for result in notify_many(requests)]
        return {
            "created": sum(result["created"] for result in results),
            "duplicates": sum(result["duplicates"] for result in results),
            "results": results,
        }

    return _idempotent(
        api_key=api_key,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint(body),
        create=create,
    )
