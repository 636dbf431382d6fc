"""A backend base for providers spoken to over HTTP/2 (APNs, FCM): many sends at once, one
connection.

Delivery tasks are synchronous, so the process keeps an asyncio event loop on a thread of its
own: one ``Http2Client`` (``h2client``) on that loop multiplexes the concurrent sends of a
chunk as streams of one TLS connection per provider, and the connection is reused by the next
chunks and batches (replaced when it has been idle a while or the provider closed it).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from django.conf import settings

from notifications.delivery.backends.base import DeliveryBackend
from notifications.delivery.backends.h2client import Http2Client, Response
from notifications.delivery.errors import DeliveryError


# One encoder for every body: ``json.dumps`` with ``separators`` builds a new encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def json_body(value) -> bytes:
    """``value`` as compact JSON bytes (a push's request body)."""
    return _COMPACT_JSON.encode(value).encode()


def retry_after_seconds(response: Response) -> float | None:
    """The provider's ``Retry-After`` in seconds (a number; an HTTP date is not used by them)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def ssl_context() -> ssl.SSLContext:
    """The system's trust store, or ``MOBILE_PUSH_CA_FILE`` (a private CA, a test's own)."""
    ca_file = settings.MOBILE_PUSH_CA_FILE or None
    return ssl.create_default_context(cafile=ca_file)


class _Shared:
    """The process's event loop for pushes (on a thread of its own) and its HTTP/2 clients,
    one per trust store and timeout: a batch finds the connections the one before it opened,
    instead of paying a TLS handshake per provider per batch. Made again in a forked child."""

    lock = threading.Lock()
    pid: int | None = None
    loop: asyncio.AbstractEventLoop | None = None
    clients: dict[tuple[str, float], Http2Client] = {}


def _shared_loop() -> asyncio.AbstractEventLoop:
    with _Shared.lock:
        if _Shared.loop is None or _Shared.pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="http2-push", daemon=True).start()
            _Shared.loop, _Shared.pid, _Shared.clients = loop, os.getpid(), {}
        return _Shared.loop


def close_connections() -> None:
    """Close the process's push connections (they are otherwise kept from batch to batch)."""
    with _Shared.lock:
        loop, clients = _Shared.loop, list(_Shared.clients.values())
        _Shared.clients = {}
        if loop is None or _Shared.pid != os.getpid():
            return
    for client in clients:
        asyncio.run_coroutine_threadsafe(client.aclose(), loop).result()


class AsyncHttp2Backend(DeliveryBackend):
    """Subclasses implement ``deliver(client, message)``; ``send_many`` runs them concurrently."""

    async def deliver(self, client: Http2Client, message) -> str:  # pragma: no cover
        raise NotImplementedError

    async def _client_on_loop(self) -> Http2Client:
        key = (settings.MOBILE_PUSH_CA_FILE or "", float(settings.MOBILE_PUSH_TIMEOUT_SECONDS))
        client = _Shared.clients.get(key)
        if client is None:
            client = _Shared.clients[key] = Http2Client(
                ssl_context=ssl_context(), timeout=settings.MOBILE_PUSH_TIMEOUT_SECONDS
            )
        return client

    def start_many(self, messages: Sequence, *, deadline: float | None = None) -> Future:
        """Start sending all ``messages`` at once and return at once; the future's result is,
        per message, its id or the exception it raised. The caller may do other work (claim
        and prepare the next rows) while the streams are in flight.

        ``deadline``: seconds the whole lot may take; a send still running then is cancelled
        and its result is a (retryable) ``DeliveryError``.
        """

        async def within_deadline(client, message):
            try:
                async with asyncio.timeout(deadline):
                    return await self.deliver(client, message)
            except TimeoutError as exc:
                raise DeliveryError(
                    f"{self.channel}: no answer within the send deadline of {deadline:g}s"
                ) from exc

        async def send_all():
            client = await self._client_on_loop()
            send = self.deliver if deadline is None else within_deadline
            return await asyncio.gather(
                *(send(client, message) for message in messages), return_exceptions=True
            )

        if not messages:
            done: Future = Future()
            done.set_result([])
            return done
        return asyncio.run_coroutine_threadsafe(send_all(), _shared_loop())

    def send_many(self, messages: Sequence, *, deadline: float | None = None) -> list:
        """``start_many`` and wait for the results."""
        return self.start_many(messages, deadline=deadline).result()

    def send(self, message) -> str:
        (result,) = self.send_many([message])
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        """Nothing to release: the connections stay open for the next batch (an idle one is
        replaced before use, see ``h2client.IDLE_REUSE_SECONDS``)."""
