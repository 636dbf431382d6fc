"""Socket handshakes that scale: one call on a small thread pool resolves the login.

Channels' ``AuthMiddlewareStack`` wraps every handshake in a lazy session and a lazy user and
loads them with ``database_sync_to_async``, which runs every call of a process on one thread,
one after another, with a health-check query before each on a persistent connection. In a
reconnect storm (a deploy restarts a web process and every page reconnects) that queue grows past
daphne's handshake timeout and then every handshake fails. Here the session cookie is resolved to
a user (``user_for_session``: the session row, then the user row, the checks Django's
``get_user`` makes) in one call on ``WEBSOCKET_DB_THREADS`` threads, on connections kept by the
process (its pool, ``DATABASE_POOL_MAX_SIZE``, or ``CONN_MAX_AGE`` per thread without one), and
the consumer gets ``scope["user"]`` and ``scope["session_key"]``. Consumers' own database reads use ``in_db_pool``.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import import_module

from channels.db import DatabaseSyncToAsync
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError, connection
from django.utils.crypto import constant_time_compare


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(settings.WEBSOCKET_DB_THREADS, thread_name_prefix="socket-db")


def in_db_pool(func):
    """Like ``database_sync_to_async`` (old connections closed around the call), on the pool."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_pool())


def user_for_session(session_key: str | None):
    """The active user a live session belongs to, or None: what Django's ``get_user`` checks on a
    request (the session exists and has not expired, names an authentication backend in use and a
    user that backend still accepts, and carries the user's current password hash)."""
    if not session_key:
        return None
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    try:
        user_id = get_user_model()._meta.pk.to_python(data[SESSION_KEY])
        backend_path = data[BACKEND_SESSION_KEY]
    except (KeyError, ValueError, TypeError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)  # None for an inactive user
    if user is None or not constant_time_compare(
        data.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash()
    ):
        return None
    return user


def _handshake_user(session_key: str | None):
    # Persistent connections of the pool's threads are used as they are, without Django's
    # per-request health check (a third round trip per handshake): a connection the server
    # dropped fails the first query, and the lookup runs once more on a new one.
    try:
        user = user_for_session(session_key)
    except (InterfaceError, OperationalError):
        connection.close()
        user = user_for_session(session_key)
    if not connection.settings_dict["CONN_MAX_AGE"]:
        connection.close()  # persistent connections are off: keep none
    return user


class SessionLoginMiddleware:
    """Puts the session's user (or ``AnonymousUser``) in ``scope["user"]`` and, for a logged-in
    socket, its session key in ``scope["session_key"]`` (None otherwise). Needs ``CookieMiddleware``
    outside it."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME) or None
        # Straight onto the pool: asgiref's sync_to_async would copy the context into the
        # thread and back around every call, which ``_handshake_user`` does not need.
        user = None
        if session_key:
            user = await asyncio.get_running_loop().run_in_executor(
                _pool(), _handshake_user, session_key
            )
        scope = dict(scope, user=user or AnonymousUser(), session_key=session_key if user else None)
        return await self.inner(scope, receive, send)


def WebsocketAuthStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    return CookieMiddleware(SessionLoginMiddleware(inner))
