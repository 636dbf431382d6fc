"""A socket whose client does not read is closed instead of buffering without bound.

daphne writes every frame an application sends straight into twisted's transport, which keeps
whatever the kernel will not take in memory until the client reads it or the ping timeout
(``WEBSOCKET_PING_TIMEOUT_SECONDS``) ends the connection: a frozen tab during a burst holds
every frame sent to it meanwhile. Here a frame that finds more than four times
``WEBSOCKET_SEND_BUFFER_BYTES`` still unsent is dropped, and the connection is aborted (a close
frame would only queue behind what the client does not read); so is one that stays over the bound
for ``WEBSOCKET_SEND_STALL_SECONDS`` (a burst to a client that reads drains well within that).
The frames and bytes dropped are counted (``herald_websocket_frames_dropped_total``,
``herald_websocket_bytes_dropped_total``, ``herald_websocket_slow_closed_total``) and logged at
WARNING with the notifications they carried. Nothing is lost for the user: the database is the record, and the page's script
reconnects after the abnormal close (1006) with ``?last_id=`` and catches up. Other sockets are
not held up: each has its own buffer.

``unsent_bytes`` reads twisted's write buffer through attributes that are not public API;
``tests/realtime/test_websocket_backpressure.py`` checks them against the pinned twisted, so
an upgrade that renames them fails a test instead of silently disabling the limit.
"""

from __future__ import annotations

import logging
import re

from daphne.ws_protocol import WebSocketFactory
from django.conf import settings

from config.websocket_close_codes import CloseCodeProtocol
from operations import metrics

logger = logging.getLogger(__name__)

NOTIFICATION_IDS = re.compile(rb'id="notification-(\d+)"')


def unsent_bytes(transport) -> int:
    """Bytes written to ``transport`` that the kernel has not taken yet (0 when unknown)."""
    while transport is not None and not hasattr(transport, "_tempDataLen"):
        transport = getattr(transport, "transport", None)  # a ProtocolWrapper's own transport
    if transport is None:
        return 0
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


class BoundedSendProtocol(CloseCodeProtocol):
    """daphne's WebSocket connection with a bound on what may wait for a client to read.

    A burst (a catch-up, a fan-out of many notifications to one user) is written within one turn
    of the event loop, before the kernel has taken any of it, so more than the bound may be unsent
    for a moment even for a client that reads. What marks a client that does not read is that it
    stays over: over ``WEBSOCKET_SEND_BUFFER_BYTES`` for ``WEBSOCKET_SEND_STALL_SECONDS``, or over
    four times that at any moment (memory is bounded even while the stall is timed).
    """

    dropped = False
    _stall_check = None
    _frames_unsent = 0  # frames sent since the write buffer was last seen empty

    def serverSend(self, content, binary=False):
        frame = content if isinstance(content, bytes) else content.encode()
        if self.dropped or self.state != self.STATE_OPEN:
            # Aborted here, or the client left (or began closing) before this frame: the
            # disconnect is on its way to the application, and the page catches up from the
            # database when it comes back. Count what still comes instead of raising
            # autobahn's ``Disconnected`` into the sender (a fan-out to a socket that has
            # just gone is a race every server has, not an error).
            metrics.socket_send_dropped(frames=1, dropped_bytes=len(frame), closed=False)
            return None
        waiting = unsent_bytes(self.transport)
        limit = settings.WEBSOCKET_SEND_BUFFER_BYTES
        if waiting == 0:
            self._frames_unsent = 0
        if waiting > 4 * limit:
            return self._drop(waiting, frame)
        if waiting > limit and self._stall_check is None:
            self._stall_check = self._call_later(
                settings.WEBSOCKET_SEND_STALL_SECONDS, self.check_stalled
            )
        self._frames_unsent += 1
        return super().serverSend(content, binary)

    def check_stalled(self) -> None:
        """Close the socket if it is still over the bound (its client did not read meanwhile)."""
        self._stall_check = None
        waiting = unsent_bytes(self.transport)
        if not self.dropped and waiting > settings.WEBSOCKET_SEND_BUFFER_BYTES:
            self._drop(waiting, b"")

    def _call_later(self, seconds: float, function):
        from twisted.internet import reactor  # the one daphne runs on

        return reactor.callLater(seconds, function)

    def _drop(self, waiting: int, frame: bytes) -> None:
        self.dropped = True
        frames = self._frames_unsent + (1 if frame else 0)
        ids = [int(found) for found in NOTIFICATION_IDS.findall(frame)]
        logger.warning(
            "Socket %s %s stopped reading: %d bytes unsent (limit %d); closed, dropping them "
            "(up to %d frames)%s; the page catches up from the database when it reconnects",
            self.client_addr, self.path.decode("ascii", "replace"), waiting,
            settings.WEBSOCKET_SEND_BUFFER_BYTES, frames,
            f" and a frame of {len(frame)} bytes (notifications {ids or 'none'})" if frame else "",
        )
        metrics.socket_send_dropped(frames=frames, dropped_bytes=waiting + len(frame), closed=True)
        if self._stall_check is not None and self._stall_check.active():
            self._stall_check.cancel()
        self.transport.abortConnection()

    def connectionLost(self, reason):
        if self._stall_check is not None and self._stall_check.active():
            self._stall_check.cancel()
        super().connectionLost(reason)


def install() -> None:
    """Make daphne build its WebSocket connections from ``BoundedSendProtocol`` (call before
    run, after ``config.websocket_close_codes.install``, whose behaviour it keeps)."""
    WebSocketFactory.protocol = BoundedSendProtocol
