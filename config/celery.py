"""The Celery application: configured from Django settings (CELERY_ namespace)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Every task counts its starts: a message that kills its worker each time is dead-lettered.
app = Celery("herald", task_cls="config.redelivery:BoundedRedeliveryTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by priority: a worker started with `-Q urgent` never waits behind a bulk fan-out.
app.conf.task_queues = [Queue(name) for name in ("urgent", "default", "bulk")]
app.autodiscover_tasks()
