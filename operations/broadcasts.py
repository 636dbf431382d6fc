"""Admin broadcasts: who receives one, what it looks like, and sending it exactly once.

Reads (``broadcast_recipients``, ``broadcast_preview``) and writes (``broadcast_send``,
``broadcast_fan_out``) of the Broadcast model; the admin and the task only call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from config.celery import enqueue
from notifications.delivery.policy import queue_for
from notifications.kinds import BROADCAST, get_kind
from notifications.services import notify, render_part
from operations.models import Audience, Broadcast, BroadcastStatus

CHUNK_SIZE = 1000


def broadcast_recipients(*, broadcast: Broadcast) -> QuerySet:
    """The active users the broadcast is for, as a queryset (a subquery for ``notify``)."""
    users = get_user_model().objects.filter(is_active=True)
    if broadcast.audience == Audience.EVENT:
        from events.models import ACTIVE_STATUSES, Registration

        return users.filter(
            pk__in=Registration.objects.filter(
                event_id=broadcast.event_id, status__in=ACTIVE_STATUSES
            ).values("user_id")
        )
    if broadcast.audience == Audience.GROUP:
        return users.filter(groups=broadcast.group_id)
    return users


def _context(broadcast: Broadcast) -> dict:
    return {"title": broadcast.title, "body": broadcast.body}


@dataclass(frozen=True)
class Preview:
    title: str
    body: str
    url: str
    priority: str
    recipients: int


def broadcast_preview(*, broadcast: Broadcast) -> Preview:
    """The notification as ``notify`` will render it, and how many people it will reach."""
    kind = get_kind(BROADCAST)
    context = {**_context(broadcast), "subject": None, "url": broadcast.url, "kind": kind}
    return Preview(
        title=render_part(kind, "title.txt", context)[:200],
        body=render_part(kind, "body.txt", context),
        url=broadcast.url,
        priority=broadcast.priority,
        recipients=broadcast_recipients(broadcast=broadcast).count(),
    )


def broadcast_send(*, broadcast_id: int) -> bool:
    """Start sending a draft; False when it is not a draft any more (sent, or a second click).

    One conditional UPDATE decides: of two requests at once, one moves the row and queues the
    fan-out (after commit), the other changes nothing.
    """
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
        if broadcast.status != BroadcastStatus.DRAFT:
            return False
        total = broadcast_recipients(broadcast=broadcast).count()
        Broadcast.objects.filter(pk=broadcast_id, status=BroadcastStatus.DRAFT).update(
            status=BroadcastStatus.SENDING, started_at=timezone.now(), recipients_total=total
        )
        queue = queue_for(broadcast.priority)
        transaction.on_commit(
            partial(enqueue, "operations.tasks.send_broadcast", [broadcast_id], queue=queue)
        )
    return True


def broadcast_fan_out(*, broadcast_id: int, chunk_size: int = CHUNK_SIZE) -> int:
    """Notify the recipients chunk by chunk, in id order, from where the last run stopped.

    Idempotent: each chunk commits its notifications with the progress, and the dedupe key
    makes a repeated chunk create nothing. Returns the notifications this call created.
    """
    created = 0
    while True:
        with transaction.atomic():
            broadcast = Broadcast.objects.select_for_update().get(pk=broadcast_id)
            if broadcast.status != BroadcastStatus.SENDING:
                return created
            ids = list(
                broadcast_recipients(broadcast=broadcast)
                .filter(pk__gt=broadcast.last_recipient_id)
                .order_by("pk")
                .values_list("pk", flat=True)[:chunk_size]
            )
            if not ids:
                Broadcast.objects.filter(pk=broadcast_id).update(
                    status=BroadcastStatus.SENT, finished_at=timezone.now()
                )
                return created
            created += notify(
                kind=BROADCAST,
                recipients=ids,
                context=_context(broadcast),
                dedupe_key=broadcast.dedupe_key,
                priority=broadcast.priority,
                url=broadcast.url,
            ).created
            Broadcast.objects.filter(pk=broadcast_id).update(
                last_recipient_id=ids[-1], recipients_done=F("recipients_done") + len(ids)
            )
