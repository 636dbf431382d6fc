"""The Celery application: configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery
from celery.signals import worker_init
from kombu import Queue

from config import broker_loss
from config.collector import tune_garbage_collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# A Redis broker that vanishes must not crash the worker (and honcho's stack with it).
broker_loss.install()

# Every task counts its starts: a message that kills its worker each time is dead-lettered.
app = Celery("herald", task_cls="config.redelivery:BoundedRedeliveryTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by priority: a worker started with `-Q urgent` never waits behind a bulk fan-out.
app.conf.task_queues = [Queue(name) for name in ("urgent", "default", "bulk")]
app.autodiscover_tasks()


@worker_init.connect
def tune_worker_collector(**kwargs) -> None:
    """A worker tunes the garbage collector as a web process does (``config.collector``), before
    it starts its pool: the prefork children inherit the frozen objects and the threshold."""
    tune_garbage_collector()


def enqueue(task_name: str, args=(), kwargs=None, **options):
    """Send the task registered as ``task_name`` with Celery's ``apply_async`` options (``queue``,
    ``countdown``, ``eta``); eagerly under ``CELERY_TASK_ALWAYS_EAGER``.

    Services name the tasks they queue instead of importing ``tasks.py``: a task takes ids and
    calls a service, so ``tasks.py`` imports the services and the dependency runs one way only.
    Every app's tasks are registered when Django starts (``config.apps``), so an unknown name
    raises ``celery.exceptions.NotRegistered`` here, in the caller, not in a worker later.
    After commit: ``transaction.on_commit(partial(enqueue, "app.task", [id], queue=...))``.
    """
    return app.tasks[task_name].apply_async(args, kwargs, **options)
