"""Django's Redis cache backend with one connection pool per process.

Django makes a cache backend per thread and per asynchronous context (``caches`` is an asgiref
``Local``), and each backend its own client and connection pool. Under ASGI every request runs in
a context of its own, so every request that touched the cache opened a new Redis connection
(connect, ``HELLO``, ``CLIENT SETINFO``) and left the old one to the garbage collector: about one
new connection per two API requests in ``bench/api.py``. Here the backends of one configuration
share one ``RedisCacheClient`` per process; redis-py's pool is thread-safe and opens new
connections after a fork by itself.
"""

import threading

from django.core.cache.backends import redis
from django.utils.functional import cached_property

_clients: dict[tuple, redis.RedisCacheClient] = {}
_lock = threading.Lock()


class RedisCache(redis.RedisCache):
    @cached_property
    def _cache(self):
        key = (self._class, tuple(self._servers), repr(sorted(self._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
