"""Suite-wide fixtures: the real PostgreSQL (pytest-django) and the real Redis."""

import pytest
import redis
from django.conf import settings


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with an empty Redis database (cache, counters, channel layer)."""
    if not settings.REDIS_URL:
        yield
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clear_local_cache():
    from django.core.cache import cache

    if settings.EMBEDDED_MODE:
        cache.clear()
    yield


@pytest.fixture(autouse=True, scope="session")
def celery_runs_tasks_inline():
    """Tasks run where they are enqueued (after commit) unless a test starts a real worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
