"""Writes for delivery: claim rows, send them through their channel's backend, record the outcome.

Every function here is idempotent on the Delivery rows: a row is claimed (locked, counted as an
attempt, leased to this worker) in its own short transaction before the provider is called, and
rows already sent or dead, not yet due, or leased by another worker are skipped.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, CharField, F, Q, Value, When
from django.utils import timezone

from config.celery import enqueue
from notifications.delivery import policy, rendering
from notifications.delivery.backends import get_backend
from notifications.delivery.backends.webpush import SubscriptionGone
from notifications.delivery.breaker import CircuitBreaker
from notifications.delivery.endpoints import check_push_endpoint
from notifications.delivery.errors import (
    CircuitOpen,
    DeliveryError,
    DeviceGone,
    PermanentDeliveryError,
)
from notifications.delivery.selectors import OPEN_STATUSES, due_deliveries
from notifications.selectors import unread_counts
from notifications.models import (
    Channel,
    ContactPoint,
    Delivery,
    DeliveryStatus,
    DigestClaim,
    MobileDevice,
    Notification,
    Priority,
    PushSubscription,
)
from notifications.services import preference_set
from operations import metrics

logger = logging.getLogger(__name__)
# The tasks (notifications/delivery/tasks.py) this module queues, by name: see config.celery.
DELIVER_TASK = "notifications.delivery.deliver"
DELIVER_BATCH_TASK = "notifications.delivery.deliver_batch"
DIGEST_TASK = "notifications.delivery.send_email_digest"

SENT = "sent"
FAILED = "failed"
DEAD = "dead"
DEFERRED = "deferred"  # the breaker is open: rescheduled without spending an attempt
SKIPPED = "skipped"  # nothing to do: already sent or dead, not due, or another worker holds it
RELEASED = "released"  # claimed, but too little of the lease was left to call the provider


@contextmanager
def _bookkeeping_transaction():
    """A short transaction for claims and outcomes.

    On PostgreSQL its commit does not wait for the WAL to reach the disk
    (``synchronous_commit`` off, for this transaction only). If the database crashes in that
    moment, a claim or an outcome is lost and the row is sent again: the at-least-once that
    delivery promises anyway, for a fraction of the cost per row.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def _claimable(due_by: datetime) -> Q:
    """Open, due by ``due_by``, and with attempts left (an exhausted row is buried by the sweep,
    never sent again)."""
    return (
        Q(status__in=OPEN_STATUSES)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=due_by))
        & Q(attempts__lt=policy.max_attempts())
    )


def deliveries_claim(
    *, delivery_ids: list[int], due_by: datetime, mobile: bool | None = None
) -> list[Delivery]:
    """Lock the open rows due by ``due_by``, count an attempt on each and lease them; the rows
    leased, in id order.

    Runs its own transaction (call outside atomic). Rows locked by another worker are skipped
    (``SKIP LOCKED``); the lease (``next_attempt_at`` moved ``DELIVERY_CLAIM_SECONDS`` ahead, and a
    fresh ``claim_token``) keeps them away from others until the outcome is written, and brings
    them back if this worker dies. Outcomes are written only while the token is still the row's.
    ``mobile``: True claims only phone-app rows, False every other channel, None all of them.
    """
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    token = uuid.uuid4()
    with _bookkeeping_transaction():
        claimed_ids = _lease(delivery_ids, due_by, lease_until, token, mobile)
    if not claimed_ids:
        return []
    # Read once leased: the lease, not a row lock, keeps other workers away from these rows.
    rows = Delivery.objects.filter(pk__any_of=claimed_ids).order_by("id")
    if mobile:
        # What the phone-app sender reads to render (a template that reads the recipient has
        # them loaded by ``render_mobile_payloads``); it reads the devices in one query itself.
        rows = rows.select_related("notification")
    else:
        # Contact points come with the rows: no query per row in the senders.
        rows = rows.select_related(
            "notification__recipient__contact_point"
        ).prefetch_related(
            "notification__recipient__push_subscriptions",
            "notification__recipient__mobile_devices",
        )
    rows = list(rows)
    metrics.deliveries_claimed(rows)
    return rows


def _lease(
    delivery_ids: list[int], due_by: datetime, lease_until: datetime, token, mobile: bool | None
) -> list[int]:
    """Lease the claimable rows among ``delivery_ids`` (an attempt counted on each); their ids.

    On PostgreSQL one statement locks (skipping rows another worker holds), checks and leases
    them; elsewhere (SQLite, one writer at a time) a read, then an update.
    """
    if connection.vendor == "postgresql":
        channel = {True: "AND channel = %s", False: "AND channel <> %s", None: ""}[mobile]
        table = Delivery._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} AS d
                   SET attempts = d.attempts + 1, next_attempt_at = %s, claim_token = %s
                  FROM (SELECT id FROM {table}
                         WHERE id = ANY(%s::bigint[]) AND status = ANY(%s)
                           AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                           AND attempts < %s {channel}
                         ORDER BY id
                           FOR UPDATE SKIP LOCKED) AS free
                 WHERE d.id = free.id
                RETURNING d.id
                """,
                [lease_until, token, list(delivery_ids), [status.value for status in OPEN_STATUSES], due_by,
                 policy.max_attempts(), *([Channel.MOBILE] if mobile is not None else [])],
            )
            return [row[0] for row in cursor.fetchall()]
    claimable = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=delivery_ids)
        .filter(_claimable(due_by))
    )
    if mobile is not None:
        claimable = (claimable.filter if mobile else claimable.exclude)(channel=Channel.MOBILE)
    ids = list(claimable.values_list("id", flat=True))
    Delivery.objects.filter(pk__in=ids).update(
        attempts=F("attempts") + 1, next_attempt_at=lease_until, claim_token=token
    )
    return ids


def deliveries_bury_exhausted(*, now: datetime | None = None) -> int:
    """Dead-letter open rows that used every attempt without an outcome (the worker died or was
    killed mid-send each time) and whose last lease ran out. Returns how many."""
    now = now or timezone.now()
    exhausted = Delivery.objects.filter(
        status__in=OPEN_STATUSES,
        attempts__gte=policy.max_attempts(),
        next_attempt_at__lte=now,
    )
    ids = list(exhausted.values_list("id", flat=True)[:5000])
    if ids:
        _mark_dead(
            ids,
            f"no outcome after {policy.max_attempts()} attempts: the worker stopped mid-send",
            token=None,
        )
    return len(ids)


def delivery_send(*, delivery_id: int) -> str:
    """Send one Delivery row through its channel's backend. Idempotent; returns the outcome."""
    return deliveries_send(delivery_ids=[delivery_id]).get(delivery_id, SKIPPED)


# Rows claimed together: one statement for many rows, yet few enough that the last of them is
# sent well inside its lease even when the provider is slow (they are sent one after another).
CLAIM_CHUNK = 25
# Phone-app rows of a chunk are sent all at once, as concurrent HTTP/2 streams bounded by one
# overall deadline (``mobile_send_deadline_seconds``), so a chunk takes one round trip however
# large it is and its lease holds: a task's whole batch is claimed in one go up to this many.
MOBILE_CLAIM_CHUNK = 100


def deliveries_send(*, delivery_ids: list[int]) -> dict[int, str]:
    """Send a batch of rows: claimed a chunk at a time, then one provider call per row, with one
    backend (one provider connection) per channel for the whole batch. Phone-app rows are
    claimed first, in chunks of ``MOBILE_CLAIM_CHUNK``; each chunk goes out concurrently, and
    the next chunk is claimed and prepared while its pushes are in flight.

    Idempotent; returns the outcome per claimed row (rows not claimed are left out). When the
    task's soft time limit strikes, the claimed rows without an outcome are given back.
    """
    backends: dict[str, object] = {}
    outcomes: dict[int, str] = {}
    ids = list(dict.fromkeys(delivery_ids))

    def backend(channel: str):
        if channel not in backends:
            backends[channel] = get_backend(channel)
        return backends[channel]

    mobile_chunks = [ids[n : n + MOBILE_CLAIM_CHUNK] for n in range(0, len(ids), MOBILE_CLAIM_CHUNK)]
    other_chunks = [ids[n : n + CLAIM_CHUNK] for n in range(0, len(ids), CLAIM_CHUNK)]
    held: list[Delivery] = []  # claimed rows whose outcome is not written yet
    try:
        # Phone-app chunks overlap: the next one is claimed and prepared while the pushes of
        # the one before are in flight, so the providers work while this process does.
        in_flight: _MobileSend | None = None
        for chunk in mobile_chunks:
            try:
                claimed = deliveries_claim(delivery_ids=chunk, due_by=timezone.now(), mobile=True)
                held += claimed
                sending = _start_mobile(claimed, backend(Channel.MOBILE)) if claimed else None
            finally:
                if in_flight is not None:
                    finishing, in_flight = in_flight, None
                    outcomes.update(_finish_mobile(finishing))
            if isinstance(sending, dict):
                outcomes.update(sending)
            else:
                in_flight = sending
        if in_flight is not None:
            outcomes.update(_finish_mobile(in_flight))
        for chunk in other_chunks:
            claimed = deliveries_claim(delivery_ids=chunk, due_by=timezone.now(), mobile=False)
            held = claimed
            for delivery in claimed:
                outcomes[delivery.pk] = _send_claimed(delivery, backends)
    except SoftTimeLimitExceeded:
        untried = [row for row in held if row.pk not in outcomes]
        for token in {row.claim_token for row in untried}:  # one release per claim
            _release([row for row in untried if row.claim_token == token])
        logger.warning("Delivery batch hit its time limit; %d rows given back", len(untried))
        raise
    finally:
        for backend in backends.values():
            backend.close()
    return outcomes


def _retry_later_for(delivery: Delivery) -> Callable[[float], None]:
    def retry_later(delay: float) -> None:
        enqueue(
            DELIVER_TASK,
            [delivery.pk],
            countdown=delay,
            queue=policy.queue_for(delivery.notification.priority),
        )

    return retry_later


def _send_claimed(delivery: Delivery, backends: dict[str, object]) -> str:
    retry_later = _retry_later_for(delivery)

    def backend():
        if delivery.channel not in backends:
            backends[delivery.channel] = get_backend(delivery.channel)
        return backends[delivery.channel]

    def breaker():
        # Web push checks one breaker per push service inside its sender.
        if delivery.channel == Channel.PUSH:
            return None
        return CircuitBreaker(backend().provider)

    sender = CHANNEL_SENDERS[delivery.channel]
    return _attempt([delivery], lambda: sender(delivery, backend()), retry_later, breaker=breaker)


def _lease_left(rows: list[Delivery]) -> float:
    return (rows[0].next_attempt_at - timezone.now()).total_seconds()


def _attempt(
    rows: list[Delivery],
    send: Callable[[], str],
    retry_later: Callable[[float], None],
    *,
    breaker: Callable[[], CircuitBreaker | None],
) -> str:
    """Call the provider once for ``rows`` (claimed together), behind the breaker ``breaker()``
    returns; write the outcome.

    Everything that can raise before the provider is called (the backend, the breaker, the
    rendering) is inside the failure handling, so such a row spends its attempts and ends dead
    instead of coming back with every lease. A row whose lease is too short for one more
    provider call is given back untried: the lease is what keeps a second worker away.
    """
    ids = [row.pk for row in rows]
    token = rows[0].claim_token
    if _lease_left(rows) <= policy.send_margin_seconds():
        _release(rows)  # due at once: the every-minute sweep sends it
        return RELEASED
    circuit: CircuitBreaker | None = None
    try:
        circuit = breaker()
        if circuit is not None:
            permission = circuit.allow()
            if not permission.allowed:
                metrics.deliveries_finished(rows, DEFERRED)
                return _defer(ids, circuit.provider, permission.retry_at, token=token)
        message_id = send()
    except CircuitOpen as exc:
        metrics.deliveries_finished(rows, DEFERRED)
        return _defer(ids, exc.provider, exc.retry_at, token=token)
    except PermanentDeliveryError as exc:
        if circuit is not None:
            circuit.record_success()  # the provider answered; the message is undeliverable
        _mark_dead(ids, str(exc), token=token)
        return DEAD
    except DeliveryError as exc:
        if circuit is not None:
            circuit.record_failure()
        return _mark_failed(rows, str(exc), retry_later, not_before=exc.retry_after)
    except SoftTimeLimitExceeded:
        _mark_failed(rows, "the task's time limit struck mid-send", retry_later)
        raise
    except Exception as exc:  # a bug (template, data, backend setup) is retried and ends dead
        logger.exception("Delivery %s crashed", ids)
        return _mark_failed(rows, f"{type(exc).__name__}: {exc}", retry_later)
    if circuit is not None:
        circuit.record_success()
    _record_sent(rows, [message_id] * len(rows))
    return SENT


def _record_sent(rows: list[Delivery], message_ids: list[str]) -> None:
    """Write ``rows`` (one claim) as sent, each with its provider message id, in one statement
    (retried while the lease holds); only rows the claim still holds are written."""
    ids = [row.pk for row in rows]
    distinct = set(message_ids)
    message_ids = [(message_id or "")[:255] for message_id in message_ids]
    token = rows[0].claim_token

    def mark_sent() -> int:
        with _bookkeeping_transaction():
            if len(distinct) > 1 and connection.vendor == "postgresql":
                return _mark_sent_each(ids, message_ids, token)
            if len(distinct) == 1:
                provider_id = Value(message_ids[0])
            else:
                provider_id = Case(
                    *(When(pk=pk, then=Value(mid)) for pk, mid in zip(ids, message_ids)),
                    output_field=CharField(),
                )
            return Delivery.objects.filter(pk__any_of=ids, claim_token=token).update(
                status=DeliveryStatus.SENT,
                sent_at=timezone.now(),
                provider_message_id=provider_id,
                last_error="",
                next_attempt_at=None,
                claim_token=None,
            )

    marked = _while_leased(rows, mark_sent)
    if marked < len(ids):
        # Only when the provider took longer than the lease despite its timeouts.
        logger.error(
            "Deliveries %s were sent after their lease ran out and another worker took them "
            "over: the recipient may get this message twice (provider message ids %s)",
            ids,
            sorted(distinct),
        )
    metrics.deliveries_finished(rows, SENT)


def _mark_sent_each(ids: list[int], message_ids: list[str], token) -> int:
    """``_record_sent``'s statement on PostgreSQL when each row has its own provider message id:
    the pairs as two array parameters, so the statement's size and planning do not grow with
    the rows (a ``CASE`` with a branch per row did, at a chunk of hundreds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Delivery._meta.db_table} AS d
               SET status = %s, sent_at = %s, provider_message_id = sent.message_id,
                   last_error = '', next_attempt_at = NULL, claim_token = NULL
              FROM unnest(%s::bigint[], %s::varchar[]) AS sent(id, message_id)
             WHERE d.id = sent.id AND d.claim_token = %s
            """,
            [DeliveryStatus.SENT, timezone.now(), ids, message_ids, token],
        )
        return cursor.rowcount


def _while_leased(rows: list[Delivery], write: Callable[[], int]) -> int:
    """Write the outcome of a send that happened, retrying while the database is away (a
    PostgreSQL restart) and the lease still keeps other workers off the rows: written in time,
    the message is not sent again. Past the lease it gives up, logged; the rows are then sent
    again (at-least-once)."""
    delay = 0.25
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError):
            if _lease_left(rows) <= policy.send_margin_seconds() / 2 + delay:
                logger.error(
                    "Outcome of deliveries %s not recorded: the database stayed away until "
                    "their lease ran out, so they will be sent again", [row.pk for row in rows]
                )
                raise
            logger.warning(
                "Database unavailable recording the outcome of deliveries %s; retrying in %.1fs",
                [row.pk for row in rows], delay,
            )
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _release(rows: list[Delivery]) -> None:
    """Give claimed rows back untried: the attempt is returned and they are due at once (the
    sweep queues them within a minute)."""
    if not rows:
        return
    Delivery.objects.filter(
        pk__in=[row.pk for row in rows], claim_token=rows[0].claim_token
    ).update(attempts=F("attempts") - 1, next_attempt_at=timezone.now(), claim_token=None)


def _defer(ids: list[int], provider: str, retry_at: float, *, token) -> str:
    """Failing fast is not the row's fault: give the attempt back and come back after the
    cool-down (the every-minute sweep picks the row up then)."""
    when = datetime.fromtimestamp(retry_at, tz=UTC)
    Delivery.objects.filter(pk__in=ids, claim_token=token).update(
        attempts=F("attempts") - 1,
        next_attempt_at=when,
        last_error=f"{provider} circuit open; next try after {when:%H:%M:%S} UTC",
        claim_token=None,
    )
    return DEFERRED


def _mark_dead(ids: list[int], error: str, *, token) -> None:
    """Bury rows; ``token`` is the claim that must still hold them (None: rows not leased)."""
    logger.warning("Deliveries %s are dead: %s", ids, error)
    burying = Delivery.objects.filter(pk__in=ids, claim_token=token)
    metrics.dead_lettered(burying.values_list("channel", flat=True))  # rare: one more query
    # update() leaves auto_now alone; updated_at is when the row died (dead letters per hour).
    burying.update(
        status=DeliveryStatus.DEAD, last_error=error[:2000], next_attempt_at=None,
        updated_at=timezone.now(), claim_token=None,
    )


def _mark_failed(
    rows: list[Delivery],
    error: str,
    retry_later: Callable[[float], None],
    not_before: float | None = None,
) -> str:
    """Back off each row, or bury it once it has used ``DELIVERY_MAX_ATTEMPTS``.

    ``not_before``: the provider's ``Retry-After``; no retry comes sooner than that.
    """
    now = timezone.now()
    token = rows[0].claim_token
    dead = [row.pk for row in rows if row.attempts >= policy.max_attempts()]
    if dead:
        _mark_dead(dead, error, token=token)
    delays = []
    for row in rows:
        if row.pk in dead:
            continue
        delay = max(policy.retry_delay(row.attempts), not_before or 0)
        delays.append(delay)
        metrics.deliveries_finished([row], FAILED)
        Delivery.objects.filter(pk=row.pk, claim_token=token).update(
            status=DeliveryStatus.FAILED,
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=error[:2000],
            claim_token=None,
        )
    if not delays:
        return DEAD
    retry_later(min(delays))
    return FAILED


# --- one sender per channel: contact point + rendering + backend call -------------------------


def _contact_point(user) -> ContactPoint:
    try:
        return user.contact_point
    except ContactPoint.DoesNotExist:
        return ContactPoint(user=user)


def _check_email(user) -> None:
    """The address may have changed since ``notify()``: send only to a confirmed one."""
    if not user.email:
        raise PermanentDeliveryError("recipient has no email address")
    if not _contact_point(user).email_is_verified(user.email):
        raise PermanentDeliveryError("email address not verified")


def _send_email(delivery: Delivery, backend) -> str:
    notification = delivery.notification
    _check_email(notification.recipient)
    return backend.send(rendering.render_email(notification))


def _send_sms(delivery: Delivery, backend) -> str:
    notification = delivery.notification
    contact = _contact_point(notification.recipient)
    if not contact.phone:
        raise PermanentDeliveryError("recipient has no phone number")
    if not contact.phone_is_verified:
        raise PermanentDeliveryError("phone number not verified")
    return backend.send(rendering.render_sms(notification, to=contact.phone))


def _send_push(delivery: Delivery, backend) -> str:
    """Push to every browser of the recipient; sent if at least one accepted it.

    Each push service has its own breaker: browsers behind an open one are skipped, so an FCM
    outage does not hold back Firefox users. A 404/410 deletes that subscription. When none
    accepted, a retryable failure wins over an open breaker, which wins over a permanent error.
    """
    notification = delivery.notification
    subscriptions = list(notification.recipient.push_subscriptions.all())
    if not subscriptions:
        raise PermanentDeliveryError("recipient has no web push subscription")
    payload = rendering.render_push_payload(notification)
    message_ids: list[str] = []
    gone: list[int] = []
    retryable: DeliveryError | None = None
    permanent: PermanentDeliveryError | None = None
    circuit_open: CircuitOpen | None = None
    for subscription in subscriptions:
        breaker = CircuitBreaker(backend.provider_for(subscription.endpoint))
        permission = breaker.allow()
        if not permission.allowed:
            if circuit_open is None or permission.retry_at < circuit_open.retry_at:
                circuit_open = CircuitOpen(breaker.provider, permission.retry_at)
            continue
        try:
            message_ids.append(
                backend.send(rendering.push_message(notification, subscription, payload))
            )
        except SubscriptionGone:
            gone.append(subscription.pk)
            breaker.record_success()
        except PermanentDeliveryError as exc:
            permanent = exc
            breaker.record_success()
        except DeliveryError as exc:
            retryable = exc
            breaker.record_failure()
        else:
            breaker.record_success()
    if gone:
        PushSubscription.objects.filter(pk__in=gone).delete()
        logger.info(
            "Removed %d expired push subscriptions of user %s",
            len(gone),
            notification.recipient_id,
        )
    if message_ids:
        return message_ids[0]
    if retryable is not None:
        raise retryable
    if circuit_open is not None:
        raise circuit_open
    raise permanent or PermanentDeliveryError("every web push subscription of the recipient is gone")


def _send_mobile_claimed(rows: list[Delivery], backend) -> dict[int, str]:
    """Push claimed phone-app rows (``_start_mobile``) and write their outcomes
    (``_finish_mobile``)."""
    sending = _start_mobile(rows, backend)
    return sending if isinstance(sending, dict) else _finish_mobile(sending)


def _start_mobile(rows: list[Delivery], backend) -> _MobileSend | dict[int, str]:
    """Start pushing claimed phone-app rows to every device of their recipients, all at once;
    returns with the pushes in flight (or, rows given back untried, with their outcomes).

    Like web push: a row is sent when at least one device accepted it; each provider (APNs,
    FCM) has its own breaker; a token the provider calls gone deletes that device. The sends
    of all rows run concurrently, then each row's outcome is written as for any channel.
    Per chunk, whatever its size: one query for the devices, one cache read for the badges,
    one breaker check per provider, one render per distinct payload, one statement for the rows
    sent.
    """
    if _lease_left(rows) <= policy.send_margin_seconds():
        _release(rows)  # one claim, one lease: due at once, the every-minute sweep sends them
        return dict.fromkeys((row.pk for row in rows), RELEASED)
    recipient_ids = {row.notification.recipient_id for row in rows}
    devices: dict[int, list[MobileDevice]] = defaultdict(list)
    for device in MobileDevice.objects.filter(user_id__any_of=recipient_ids).order_by("id"):
        devices[device.user_id].append(device)
    breakers: dict[str, CircuitBreaker] = {}
    permissions: dict[str, object] = {}
    badges = unread_counts(recipient_ids, store=False)
    payloads = rendering.render_mobile_payloads([row.notification for row in rows], badges=badges)
    planned: list[tuple[Delivery, MobileDevice, str, object]] = []  # (row, device, provider, message)
    blocked: dict[int, CircuitOpen] = {}
    for row, payload in zip(rows, payloads):
        notification = row.notification
        for device in devices[notification.recipient_id]:
            provider = backend.provider_for(device.platform)
            if provider not in breakers:
                breakers[provider] = CircuitBreaker(provider)
                permissions[provider] = breakers[provider].allow()
            permission = permissions[provider]
            if not permission.allowed:
                earlier = blocked.get(row.pk)
                if earlier is None or permission.retry_at < earlier.retry_at:
                    blocked[row.pk] = CircuitOpen(provider, permission.retry_at)
                continue
            message = rendering.mobile_message(notification, device, payload)
            planned.append((row, device, provider, message))
    results = backend.start_many(
        [message for *_, message in planned], deadline=policy.mobile_send_deadline_seconds()
    )
    return _MobileSend(rows, planned, breakers, blocked, results)


@dataclass
class _MobileSend:
    """A chunk of phone-app rows whose pushes are in flight (``_start_mobile``)."""

    rows: list[Delivery]
    planned: list[tuple[Delivery, MobileDevice, str, object]]  # (row, device, provider, message)
    breakers: dict[str, CircuitBreaker]
    blocked: dict[int, CircuitOpen]
    results: Future


def _finish_mobile(sending: _MobileSend) -> dict[int, str]:
    """Wait for a chunk's pushes (``_start_mobile``), then write each row's outcome: devices
    whose token is gone deleted, the breakers told, the rows a device accepted written sent in
    one statement, the others through the usual outcome handling."""
    rows, planned, breakers, blocked = (
        sending.rows, sending.planned, sending.breakers, sending.blocked
    )
    results = sending.results.result()
    accepted: dict[int, list[str]] = defaultdict(list)
    errors: dict[int, list[Exception]] = defaultdict(list)
    gone: list[int] = []
    failed_providers: set[str] = set()
    answered_providers: set[str] = set()
    for (row, device, provider, _), result in zip(planned, results):
        if isinstance(result, DeviceGone):
            gone.append(device.pk)
        if isinstance(result, BaseException):
            if not isinstance(result, DeliveryError):
                result = DeliveryError(f"{type(result).__name__}: {result}")
            if not isinstance(result, PermanentDeliveryError):
                failed_providers.add(provider)
            else:
                answered_providers.add(provider)
            errors[row.pk].append(result)
        else:
            answered_providers.add(provider)
            accepted[row.pk].append(result)
    for provider in failed_providers:
        breakers[provider].record_failure()
    for provider in answered_providers - failed_providers:
        breakers[provider].record_success()
    if gone:
        MobileDevice.objects.filter(pk__in=gone).delete()
        logger.info("Removed %d mobile devices whose push token is gone", len(gone))

    def outcome_of(row: Delivery) -> Callable[[], str]:
        def send() -> str:
            if accepted[row.pk]:
                return accepted[row.pk][0]
            row_errors = errors[row.pk]
            retryable = [e for e in row_errors if not isinstance(e, PermanentDeliveryError)]
            if retryable:
                raise max(retryable, key=lambda e: e.retry_after or 0)
            if row.pk in blocked:
                raise blocked[row.pk]
            if row_errors:
                raise row_errors[0]
            raise PermanentDeliveryError("recipient has no mobile device")

        return send

    # Rows a device accepted are written together (one statement for the chunk); the others
    # go through the usual outcome handling one by one. The sends ended within their deadline,
    # well inside the lease checked above.
    accepted_rows = [row for row in rows if accepted[row.pk]]
    outcomes: dict[int, str] = {}
    if accepted_rows:
        _record_sent(accepted_rows, [accepted[row.pk][0] for row in accepted_rows])
        outcomes = {row.pk: SENT for row in accepted_rows}
    for row in rows:
        if row.pk not in outcomes:
            outcomes[row.pk] = _attempt(
                [row], outcome_of(row), _retry_later_for(row), breaker=lambda: None
            )
    return outcomes


CHANNEL_SENDERS: dict[str, Callable[[Delivery, object], str]] = {
    Channel.EMAIL: _send_email,
    Channel.SMS: _send_sms,
    Channel.PUSH: _send_push,
}


# --- low-priority email digest ---------------------------------------------------------------


def _digest_window() -> timedelta:
    return timedelta(seconds=settings.DELIVERY_DIGEST_WINDOW_SECONDS)


def _low_priority_email(queryset):
    return queryset.filter(channel=Channel.EMAIL, notification__priority=Priority.LOW)


def deliveries_hold_for_digest(*, delivery_ids: list[int]) -> set[int]:
    """Hold the low-priority email rows among ``delivery_ids`` for one digest window.

    Rows deferred to a later time (quiet hours) keep it. Returns the ids held back from sending.
    """
    now = timezone.now()
    held = _low_priority_email(
        Delivery.objects.filter(pk__in=delivery_ids, status__in=OPEN_STATUSES)
    )
    held_ids = set(held.values_list("id", flat=True))
    if held_ids:
        Delivery.objects.filter(pk__in=held_ids).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        ).update(next_attempt_at=now + _digest_window())
    return held_ids


def digest_send(*, user_id: int) -> str:
    """Send one user's held low-priority emails as one digest, once the oldest of them is due.

    Rows due within the next window ride along, so a burst goes out as one email. A
    ``DigestClaim`` row (one per user, by its primary key) keeps two digests of the same user
    from running at once. Idempotent.
    """
    token = _digest_claim(user_id)
    if token is None:
        return SKIPPED
    try:
        return _digest_send(user_id)
    finally:
        DigestClaim.objects.filter(user_id=user_id, token=token).delete()


def _digest_claim(user_id: int) -> uuid.UUID | None:
    """Take the user's digest claim (a new row, or one whose holder's time ran out); None when
    another digest of this user holds it."""
    now = timezone.now()
    token = uuid.uuid4()
    until = now + timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    if DigestClaim.objects.filter(user_id=user_id, until__lte=now).update(
        token=token, until=until
    ):
        return token
    try:
        with transaction.atomic():
            DigestClaim.objects.create(user_id=user_id, token=token, until=until)
    except IntegrityError:
        return None
    return token


def _digest_send(user_id: int) -> str:
    now = timezone.now()
    candidates = _low_priority_email(
        Delivery.objects.filter(notification__recipient_id=user_id)
    ).filter(_claimable(now + _digest_window()))
    if not candidates.filter(_claimable(now)).exists():
        return SKIPPED
    rows = deliveries_claim(
        delivery_ids=list(candidates.values_list("id", flat=True)), due_by=now + _digest_window()
    )
    if not rows:
        return SKIPPED
    backend = get_backend(Channel.EMAIL)
    notifications = [row.notification for row in rows]

    def send() -> str:
        _check_email(notifications[0].recipient)
        if len(notifications) == 1:
            return backend.send(rendering.render_email(notifications[0]))
        return backend.send(rendering.render_digest_email(notifications))

    def retry_later(delay: float) -> None:
        enqueue(DIGEST_TASK, [user_id], countdown=delay)

    try:
        return _attempt(
            rows, send, retry_later, breaker=lambda: CircuitBreaker(backend.provider)
        )
    finally:
        backend.close()


# --- scheduling --------------------------------------------------------------------------------


def deliveries_dispatch(*, delivery_ids: list[int], priority: str) -> None:
    """Queue tasks for these rows on the queue of their priority: urgent one task per row (any
    free worker takes each at once), the rest in batches of ``DELIVERY_BATCH_SIZE``."""
    if not delivery_ids:
        return
    queue = policy.queue_for(priority)
    if priority == Priority.URGENT:
        for delivery_id in delivery_ids:
            enqueue(DELIVER_TASK, [delivery_id], queue=queue)
        return
    size = settings.DELIVERY_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        enqueue(DELIVER_BATCH_TASK, [list(delivery_ids[start : start + size])], queue=queue)


def deliveries_enqueue_due(*, limit: int = 5000) -> int:
    """Queue every row that is due now (see ``selectors.due_deliveries``). Idempotent: a row
    queued twice is sent once. Returns the number of rows queued."""
    buried = deliveries_bury_exhausted()
    by_priority: dict[str, list[int]] = defaultdict(list)
    digest_users: set[int] = set()
    count = 0
    for delivery_id, channel, priority, recipient_id in due_deliveries(now=timezone.now(), limit=limit):
        count += 1
        if channel == Channel.EMAIL and priority == Priority.LOW:
            digest_users.add(recipient_id)
        else:
            by_priority[priority].append(delivery_id)
    for priority, ids in by_priority.items():
        deliveries_dispatch(delivery_ids=ids, priority=priority)
    for user_id in sorted(digest_users):
        enqueue(DIGEST_TASK, [user_id])
    if count or buried:
        logger.info(
            "Queued %d due deliveries (%d digests); %d exhausted rows dead",
            count, len(digest_users), buried,
        )
    return count


RETRYABLE_BY_HAND = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)


def delivery_retry(*, delivery: Delivery) -> bool:
    """Give a failed or dead row a fresh set of attempts and send it after commit.

    Returns False (and changes nothing) for a row that is sent or still pending (a pending row is
    on its way, or waiting for quiet hours or the digest, which a retry must not skip).
    """
    updated = (
        Delivery.objects.filter(pk=delivery.pk, status__in=RETRYABLE_BY_HAND)
        .update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=None, last_error="")
    )
    if not updated:
        return False
    queue = policy.queue_for(delivery.notification.priority)
    transaction.on_commit(partial(enqueue, DELIVER_TASK, [delivery.pk], queue=queue))
    return True


class PushSubscriptionTaken(Exception):
    """Another account holds this endpoint and the keys do not prove it is the same browser."""


def push_subscription_save(
    *, user, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Register a browser's push subscription; the endpoint is unique.

    Raises ``EndpointRefused`` for an endpoint that is not a push service Herald sends to, and
    ``PushSubscriptionTaken`` when another account holds the endpoint with other keys (knowing
    someone's endpoint URL must not be enough to take their pushes). The same keys prove it is
    the same browser, now used by another account: the row moves. A user keeps at most
    ``WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER`` subscriptions; the oldest go first.
    """
    check_push_endpoint(endpoint, require_resolution=False)
    fields = {"user": user, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]}
    with transaction.atomic():
        existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
        if existing is None:
            subscription = PushSubscription.objects.create(endpoint=endpoint, **fields)
        else:
            if existing.user_id != user.pk and (existing.p256dh, existing.auth) != (p256dh, auth):
                raise PushSubscriptionTaken
            if existing.user_id != user.pk:
                logger.info(
                    "Push subscription %s moved from user %s to user %s (same browser keys)",
                    existing.pk, existing.user_id, user.pk,
                )
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.save(update_fields=list(fields))
            subscription = existing
        keep = settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER
        stale = PushSubscription.objects.filter(user=user).order_by("-created_at", "-id")[keep:]
        PushSubscription.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return subscription


def push_subscription_delete(*, user, endpoint: str) -> bool:
    """Forget a browser's subscription; only its owner can. Returns whether one was removed."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return bool(deleted)


# --- one-click unsubscribe (RFC 8058) ----------------------------------------------------------


def email_unsubscribe(*, user, kind: str) -> None:
    """Stop emails of ``kind`` to ``user`` (their email preference for it goes off). Idempotent."""
    preference_set(user=user, kind=kind, channel=Channel.EMAIL, enabled=False)


# --- click-through (email redirect, web push report) -------------------------------------------


def delivery_record_click(*, notification_id: int, channel: str) -> str:
    """Record the first click on this notification's ``channel`` delivery; idempotent.

    Returns where the click leads: the notification's absolute URL, or the notification
    center when the notification is gone (purged).
    """
    Delivery.objects.filter(
        notification_id=notification_id, channel=channel, clicked_at__isnull=True
    ).update(clicked_at=timezone.now())
    url = (
        Notification.objects.filter(pk=notification_id).values_list("url", flat=True).first()
    )
    return rendering.absolute_url(url if url is not None else "/notifications/")
