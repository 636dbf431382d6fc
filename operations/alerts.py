"""Alerts: conditions an operator must hear about, checked every minute by beat.

Each condition has a key (``breaker:<provider>``, ``queue:<name>``, ``sockets:<pid>``,
``dead_letters``). The first check that sees it opens an ``Incident``, logs it at ERROR and
sends every active staff user one urgent in-app notification through ``notify`` (dedupe key
per incident); later checks while it holds send nothing. When the condition is gone the
incident is resolved, and the next occurrence is a new incident with a new alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.kinds import OPS_ALERT
from notifications.services import notify
from operations.models import Incident

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Condition:
    key: str
    summary: str
    detail: str = ""


def current_conditions(*, now=None) -> list[Condition]:
    """Every alert condition that holds now, read from the database, cache, broker and the
    metrics files of this host's processes."""
    from notifications.delivery.breaker import breaker_states
    from operations import metrics
    from operations.queues import queue_states
    from operations.selectors import dead_letters_since

    now = now or timezone.now()
    found: list[Condition] = []
    window = settings.ALERT_DEAD_LETTERS_WINDOW_SECONDS
    dead = dead_letters_since(since=now - timedelta(seconds=window))
    if dead >= settings.ALERT_DEAD_LETTERS_THRESHOLD:
        found.append(Condition(
            "dead_letters", f"{dead} dead letters in the last {window // 60} minutes",
            "Deliveries are failing for good; see Deliveries filtered by status Dead.",
        ))
    for provider, state in breaker_states().items():
        if state != "closed":
            found.append(Condition(
                f"breaker:{provider}", f"circuit breaker open for {provider}",
                "Deliveries through this provider are deferred until it answers again.",
            ))
    for queue in queue_states():
        age = queue.oldest_age_seconds
        if age is not None and age > settings.ALERT_QUEUE_AGE_SECONDS:
            found.append(Condition(
                f"queue:{queue.name}",
                f"queue {queue.name} has waited {int(age)} s ({queue.depth} tasks)",
                "Workers for this queue are too few, stuck or stopped.",
            ))
    budget = settings.WEBSOCKET_BUDGET_PER_PROCESS
    for pid, sockets in metrics.open_sockets_by_process().items():
        if sockets > budget:
            found.append(Condition(
                f"sockets:{pid}", f"web process {pid} holds {sockets} sockets (budget {budget})",
                "Add web processes or raise WEBSOCKET_BUDGET_PER_PROCESS if it copes.",
            ))
    return found


def _open(condition: Condition, now) -> Incident | None:
    """Open an incident for ``condition`` unless one is open; the new one, or None."""
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                key=condition.key, summary=condition.summary[:300], detail=condition.detail,
                opened_at=now, last_seen_at=now,
            )
            staff = get_user_model().objects.filter(is_staff=True, is_active=True)
            notify(
                kind=OPS_ALERT,
                recipients=staff,
                context={"summary": condition.summary, "detail": condition.detail,
                         "opened_at": f"{now:%Y-%m-%d %H:%M}"},
                dedupe_key=f"ops-alert:{incident.pk}",
                url="/admin/operations/",
            )
    except IntegrityError:
        return None  # another check opened it first
    logger.error("ALERT %s: %s", condition.key, condition.summary)
    return incident


def alerts_check(*, now=None) -> list[Incident]:
    """Open incidents for new conditions, touch the open ones, resolve the ones that cleared.
    Idempotent; returns the incidents opened by this call."""
    now = now or timezone.now()
    conditions = {condition.key: condition for condition in current_conditions(now=now)}
    open_keys = set(
        Incident.objects.filter(resolved_at__isnull=True).values_list("key", flat=True)
    )
    opened = [
        incident
        for key, condition in conditions.items()
        if key not in open_keys and (incident := _open(condition, now)) is not None
    ]
    Incident.objects.filter(resolved_at__isnull=True, key__in=conditions).update(last_seen_at=now)
    cleared = open_keys - set(conditions)
    if cleared:
        Incident.objects.filter(resolved_at__isnull=True, key__in=cleared).update(resolved_at=now)
        logger.warning("Alerts resolved: %s", ", ".join(sorted(cleared)))
    return opened
