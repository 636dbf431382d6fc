"""A real Celery worker for tests about the task pipeline (the rest run tasks eagerly)."""

import gc
import time
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker

from config.celery import app

ALL_QUEUES = ["urgent", "default", "bulk"]


@contextmanager
def real_worker(queues=ALL_QUEUES):
    """A worker thread consuming ``queues`` on the broker at REDIS_URL; tasks are not eager.

    The worker tunes the process's garbage collector when it starts (``config.collector``); the
    test process gets Python's settings back afterwards."""
    app.conf.task_always_eager = False
    threshold = gc.get_threshold()
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=queues
        ) as worker:
            yield worker
    finally:
        app.conf.task_always_eager = True
        app.amqp.queues.select(ALL_QUEUES)  # the worker narrowed the app's queue selection
        gc.unfreeze()
        gc.set_threshold(*threshold)


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
