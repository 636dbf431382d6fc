"""The Celery application: configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery
from kombu import Queue

from config import broker_loss

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
broker_loss.install()  # a lost Redis broker must not take the worker (and honcho's stack) down

# Every task counts its starts: a message that kills its worker each time is dead-lettered.
app = Celery("herald", task_cls="config.redelivery:BoundedRedeliveryTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by priority: a worker started with `-Q urgent` never waits behind a bulk fan-out.
app.conf.task_queues = [Queue(name) for name in ("urgent", "default", "bulk")]
app.autodiscover_tasks()
