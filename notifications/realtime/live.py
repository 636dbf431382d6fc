"""Per-user events to the sockets open in this process: one channel-layer message per fan-out.

A notification to 10,000 people must not cost 10,000 channel-layer messages, each received,
decoded and dispatched on its own. Senders (``publish``) put the events of a whole fan-out, in
chunks, into one message to the group ``web.fanout``. Each web process has one listener in that
group; it hands every event to the sockets that its user has open in this process (consumers that
called ``attach``) and drops the rest. This uses only the channel layer's public API, on any
layer: Redis pub/sub and the list-based layer in services mode, in-memory in embedded mode.

Trade-off: every web process decodes every fan-out, including events for users it holds no
socket for; docs/scaling.md says when to shard the group.

Redis trouble: pub/sub keeps no messages, so events published while a process's subscription is
down are lost to its sockets. The listener pings itself through the layer every
``PING_SECONDS``; a ping that fails or pings that do not come back mark the subscription
interrupted, and
the first ping that comes back afterwards makes every socket of the process catch up from the
database, from the last notification it had when the subscription was last known to work.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

FANOUT_GROUP = "web.fanout"
# Events per message: a 10,000-recipient fan-out is five messages of about 300 KB.
CHUNK = 2000
# What a channel-layer call raises while Redis is away or slow.
LAYER_ERRORS = (RedisError, OSError, TimeoutError)
LISTEN_RETRY_SECONDS = 1.0
PING_SECONDS = 2.0
# Pings still out before the subscription counts as interrupted: one late pong on a busy
# machine must not make every socket catch up.
MISSED_PINGS = 2
# Catch-ups after an interruption run this many at a time, so they do not starve new pushes.
RESUME_CONCURRENCY = 8
# Announcements (``announce``) of one process wait this long to go out together: a reconnect
# storm of hundreds of sockets a second then costs a few messages a second, not one per socket.
ANNOUNCE_SECONDS = 0.05


class _Listener:
    """The sockets of one event loop (one web process) and its subscription to the fan-out."""

    def __init__(self):
        self.sockets: dict[int, set] = defaultdict(set)
        self.channel: str | None = None
        self.lock = asyncio.Lock()
        self.tasks: list[asyncio.Task] = []
        self.pings_sent = 0
        self.pings_received = 0
        self.interrupted = False
        self.announcements: list[tuple[int, dict]] = []
        self.announcing: set[asyncio.Task] = set()


_listeners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _listener() -> _Listener:
    loop = asyncio.get_running_loop()
    listener = _listeners.get(loop)
    if listener is None:
        listener = _listeners[loop] = _Listener()
    return listener


async def attach(user_id: int, consumer) -> None:
    """From now on, ``consumer.dispatch(event)`` gets every event published for ``user_id``.

    After an interruption of the layer, ``consumer.resume()`` is awaited: it should catch up
    from the database. ``consumer.checkpoint()`` is called whenever the subscription is known to
    be working (what the socket has by then is safe).

    The first socket of a process subscribes the process to the fan-out and waits for it, so no
    event published after this returns is missed. Raises ``LAYER_ERRORS`` when the channel layer
    cannot be reached.
    """
    listener = _listener()
    if listener.channel is None:
        async with listener.lock:
            if listener.channel is None:
                layer = get_channel_layer()
                channel = await layer.new_channel()
                await layer.group_add(FANOUT_GROUP, channel)
                listener.channel = channel
                loop = asyncio.get_running_loop()
                listener.tasks = [
                    loop.create_task(_listen(listener, layer, channel), name="live-listener"),
                    loop.create_task(_watch(listener, layer, channel), name="live-watch"),
                ]
    listener.sockets[user_id].add(consumer)


def detach(user_id: int, consumer) -> None:
    listener = _listener()
    sockets = listener.sockets.get(user_id)
    if sockets is not None:
        sockets.discard(consumer)
        if not sockets:
            del listener.sockets[user_id]


def open_sockets() -> int:
    """Sockets attached in this event loop (this web process)."""
    return sum(len(sockets) for sockets in _listener().sockets.values())


async def _listen(listener: _Listener, layer, channel: str) -> None:
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except LAYER_ERRORS:
            logger.warning("Fan-out listener lost the channel layer; retrying", exc_info=True)
            await asyncio.sleep(LISTEN_RETRY_SECONDS)
            continue
        if message.get("type") == "live.ping":
            _ping_came_back(listener, message.get("n", 0))
        else:
            await _deliver(listener, message.get("events") or ())


async def _watch(listener: _Listener, layer, channel: str) -> None:
    """Every PING_SECONDS: was the last ping received? Then send the next one."""
    while True:
        await asyncio.sleep(PING_SECONDS)
        missed = listener.pings_sent - listener.pings_received
        if missed >= MISSED_PINGS and not listener.interrupted:
            logger.warning("Live events interrupted in this process (a ping did not come back)")
            listener.interrupted = True
        listener.pings_sent += 1
        try:
            await layer.send(channel, {"type": "live.ping", "n": listener.pings_sent})
        except LAYER_ERRORS:
            if not listener.interrupted:
                logger.warning("Live events interrupted in this process: the channel layer "
                               "is unavailable", exc_info=True)
            listener.interrupted = True


def _ping_came_back(listener: _Listener, n: int) -> None:
    listener.pings_received = max(listener.pings_received, n)
    consumers = [c for sockets in listener.sockets.values() for c in sockets]
    if not listener.interrupted:
        for consumer in consumers:
            consumer.checkpoint()
        return
    listener.interrupted = False
    logger.warning("Live events restored in this process; %d sockets catch up", len(consumers))
    asyncio.get_running_loop().create_task(_resume(consumers), name="live-resume")


async def _resume(consumers: list) -> None:
    semaphore = asyncio.Semaphore(RESUME_CONCURRENCY)

    async def resume(consumer):
        async with semaphore:
            try:
                await consumer.resume()
            except Exception:
                logger.exception("A socket could not catch up after an interruption")

    await asyncio.gather(*(resume(consumer) for consumer in consumers))


async def _deliver(listener: _Listener, events: Iterable) -> None:
    for user_id, event in events:
        for consumer in tuple(listener.sockets.get(user_id, ())):
            try:
                await consumer.dispatch(event)
            except Exception:  # one broken socket must not stop the others' delivery
                logger.exception("Delivering %s to a socket of user %s failed",
                                 event.get("type"), user_id)


async def publish_async(events: list[tuple[int, dict]]) -> None:
    """Send each (user id, event) to that user's open sockets in every web process."""
    layer = get_channel_layer()
    for start in range(0, len(events), CHUNK):
        chunk = [[user_id, event] for user_id, event in events[start : start + CHUNK]]
        await layer.group_send(FANOUT_GROUP, {"type": "user.events", "events": chunk})


def announce(user_id: int, event: dict) -> None:
    """Best effort ``publish_async`` of one event, sent within ``ANNOUNCE_SECONDS`` in one
    message with the other announcements of this process; a failure is logged, not raised."""
    listener = _listener()
    listener.announcements.append((user_id, event))
    if len(listener.announcements) == 1:
        asyncio.get_running_loop().call_later(ANNOUNCE_SECONDS, _send_announcements, listener)


def _send_announcements(listener: _Listener) -> None:
    events, listener.announcements = listener.announcements, []
    task = asyncio.get_running_loop().create_task(_publish_announcements(events))
    listener.announcing.add(task)  # a strong reference until it is done
    task.add_done_callback(listener.announcing.discard)


async def _publish_announcements(events: list[tuple[int, dict]]) -> None:
    try:
        await publish_async(events)
    except LAYER_ERRORS:
        logger.info("Could not publish %d announcements (%s)", len(events),
                    ", ".join(sorted({event["type"] for _, event in events})))


def publish(events: list[tuple[int, dict]]) -> None:
    """``publish_async`` from sync code (a task, a service's after-commit step)."""
    if events:
        async_to_sync(publish_async)(events)
