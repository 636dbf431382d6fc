import threading

import pytest
from django.conf import settings
from django.core.cache import caches

from notifications import counters


def _backend_in_new_thread():
    """The default cache backend as a new thread gets it (as a request under ASGI gets one in a
    context of its own)."""
    found = []
    thread = threading.Thread(target=lambda: found.append(caches["default"]))
    thread.start()
    thread.join()
    return found[0]


@pytest.mark.services  # the Redis backend
def test_backends_of_every_thread_and_context_share_one_connection_pool():
    first, second = _backend_in_new_thread(), _backend_in_new_thread()

    assert settings.CACHES["default"]["BACKEND"] == "config.cache.RedisCache"
    assert first is not second  # Django still makes a backend per thread or context...
    assert first._cache is second._cache  # ...around one shared client and pool
    first.set("shared-pool", 1, 5)
    assert second.get("shared-pool") == 1


def test_guarded_incr_counts_until_the_guard_is_over_its_limit():
    caches["default"].delete_many(["guard", "counted"])

    assert counters.guarded_incr("guard", "counted", guard_limit=1, ttl=60) == (0, 1)
    assert counters.incr_window("guard", ttl=60) == 1
    assert counters.guarded_incr("guard", "counted", guard_limit=1, ttl=60) == (1, 2)
    assert counters.incr_window("guard", ttl=60) == 2
    # Past its limit the guard stops the count: the refused request is not counted.
    assert counters.guarded_incr("guard", "counted", guard_limit=1, ttl=60) == (2, 0)
    assert counters.guarded_incr("guard", None, guard_limit=5, ttl=60) == (2, 0)
