import asyncio
import threading

from django.conf import settings
from django.core.cache import caches

from notifications import counters


def _backend_in_new_context():
    """The default cache backend as a request under ASGI gets it: in a context of its own."""
    async def fetch():
        return caches["default"]

    return asyncio.run(fetch())


def test_backends_of_every_request_context_share_one_connection_pool():
    first, second = _backend_in_new_context(), _backend_in_new_context()
    in_thread = []
    thread = threading.Thread(target=lambda: in_thread.append(caches["default"]))
    thread.start()
    thread.join()

    assert settings.CACHES["default"]["BACKEND"] == "config.cache.RedisCache"
    assert first is not second  # Django still makes a backend per context...
    assert first._cache is second._cache is in_thread[0]._cache  # ...around one shared client
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
