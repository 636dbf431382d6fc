"""Socket handshakes that scale: the session and user lookups run on a small thread pool.

Channels' ``AuthMiddlewareStack`` loads them with ``database_sync_to_async``, which runs every
call of a process on one thread, one after another. In a reconnect storm (a deploy restarts a web
process and every page reconnects) that queue grows past daphne's 5 s handshake timeout and then
every handshake fails. Here the same lookups (Channels' own ``get_user``) run on
``WEBSOCKET_DB_THREADS`` threads, on connections kept by the process (its pool,
``DATABASE_POOL_MAX_SIZE``, or ``CONN_MAX_AGE`` per thread without one).
Consumers' own database reads use ``in_db_pool`` too.
"""

from concurrent.futures import ThreadPoolExecutor
from functools import cache

from channels.auth import AuthMiddleware, get_user
from channels.db import DatabaseSyncToAsync
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.WEBSOCKET_DB_THREADS, thread_name_prefix="socket-db")


def in_db_pool(func):
    """Like ``database_sync_to_async`` (old connections closed around the call), on the pool."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_pool())


_get_user = in_db_pool(get_user.func)  # the undecorated lookup of Channels' get_user


class PooledAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope):
        scope["user"]._wrapped = await _get_user(scope)


def WebsocketAuthStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(PooledAuthMiddleware(inner)))
