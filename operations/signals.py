"""Celery signals: the publish time on every task (queue age, push latency) and bookkeeping
for the metrics files of worker processes."""

from __future__ import annotations

import os
import time

from celery import signals

from operations import metrics
from operations.queues import PUBLISHED_AT_HEADER

PUSH_TASK = "notifications.tasks.push_in_app"


@signals.before_task_publish.connect
def stamp_published_at(headers=None, **kwargs):
    if headers is not None:
        headers.setdefault(PUBLISHED_AT_HEADER, time.time())


def _published_at(task) -> float | None:
    request = task.request
    value = getattr(request, PUBLISHED_AT_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(PUBLISHED_AT_HEADER)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@signals.task_prerun.connect
def remember_start(task=None, **kwargs):
    if task is not None and task.name == PUSH_TASK:
        task.request._herald_started_at = time.time()


@signals.task_postrun.connect
def observe_push(task=None, retval=None, state=None, **kwargs):
    """The in-app push: events sent and the time since its notification's commit (when the
    task was queued; a task run inline at commit counts from its own start)."""
    if task is None or task.name != PUSH_TASK or state != "SUCCESS":
        return
    since = _published_at(task) or getattr(task.request, "_herald_started_at", time.time())
    metrics.inapp_pushed(count=retval if isinstance(retval, int) else 0, since=since)


@signals.worker_process_shutdown.connect
def worker_process_exited(pid=None, **kwargs):
    metrics.process_exited(pid or os.getpid())
