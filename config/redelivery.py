"""A bound on how often one task message is started.

Every task is ``acks_late`` with ``task_reject_on_worker_lost``: a worker process that dies
mid-task (killed, out of memory) puts the message back, so no task is lost with its worker. A task
that kills its worker every time would then loop for ever. Each start of a message is counted in
the cache (per task id and retry number); past ``TASK_MAX_DELIVERIES`` the message is acknowledged
without running, logged at ERROR and recorded as a ``DeadTask`` the admin lists.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.contrib.django.task import DjangoTask
from django.db import OperationalError

logger = logging.getLogger(__name__)

RUNS_TTL_SECONDS = 24 * 3600


def _count_start(task_id: str, retries: int) -> int | None:
    """This message's start number, or None when the cache cannot count (the task then runs)."""
    from django.core.cache import cache

    from notifications.counters import CACHE_ERRORS

    key = f"celery:starts:{task_id}:{retries}"
    try:
        cache.add(key, 0, timeout=RUNS_TTL_SECONDS)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=RUNS_TTL_SECONDS)
            return 1
    except CACHE_ERRORS:
        logger.warning("Starts of task %s not counted: the cache is unavailable", task_id)
        return None


def _dead_letter(task: Task, starts: int, args, kwargs) -> None:
    from django.db import DatabaseError

    from config.models import DeadTask

    request = task.request
    logger.error(
        "Task %s[%s] was started %d times without finishing (its worker died each time): "
        "dead-lettered, not run again; args=%r kwargs=%r",
        task.name, request.id, starts, args, kwargs,
    )
    try:
        DeadTask.objects.update_or_create(
            task_id=request.id,
            defaults={
                "name": task.name,
                "args": repr(args)[:10000],
                "kwargs": repr(kwargs)[:10000],
                "starts": starts,
                "queue": (request.delivery_info or {}).get("routing_key") or "",
            },
        )
    except DatabaseError:
        logger.exception("Dead task %s[%s] could not be recorded", task.name, request.id)


class BoundedRedeliveryTask(DjangoTask):
    """The base of every task of the app (``Celery(task_cls=...)``); keeps Django's
    ``delay_on_commit``.

    A task that meets an unreachable database (``OperationalError``: PostgreSQL restarting) is
    retried with backoff instead of failing; tasks that name their own ``autoretry_for`` keep
    theirs. Tasks take ids and are idempotent, so a retry is always safe.
    """

    autoretry_for = (OperationalError,)
    retry_backoff = 2
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 12

    def __call__(self, *args, **kwargs):
        request = self.request
        if not request.is_eager and not request.called_directly and request.id:
            from django.conf import settings

            starts = _count_start(request.id, request.retries or 0)
            if starts is not None and starts > settings.TASK_MAX_DELIVERIES:
                _dead_letter(self, starts, args, kwargs)
                return None
        return super().__call__(*args, **kwargs)
