"""A socket whose client does not read is closed instead of buffering without bound.

daphne writes every frame an application sends straight into twisted's transport, which keeps
whatever the kernel will not take in memory until the client reads it or the ping timeout
(``WEBSOCKET_PING_TIMEOUT_SECONDS``) ends the connection: a frozen tab during a burst holds
every frame sent to it meanwhile. Here a frame that finds more than
``WEBSOCKET_SEND_BUFFER_BYTES`` still unsent is dropped, and the connection is aborted (a close
frame would only queue behind what the client does not read). The frames and bytes dropped are
counted (``herald_websocket_frames_dropped_total``, ``herald_websocket_bytes_dropped_total``,
``herald_websocket_slow_closed_total``) and logged at WARNING with the notifications they
carried. Nothing is lost for the user: the database is the record, and the page's script
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
    """daphne's WebSocket connection with a bound on what may wait for a client to read."""

    dropped = False

    def serverSend(self, content, binary=False):
        frame = content if isinstance(content, bytes) else content.encode()
        if self.dropped:
            # Aborted, the disconnect is on its way to the application: count what still comes.
            metrics.socket_send_dropped(frames=1, dropped_bytes=len(frame), closed=False)
            return None
        waiting = unsent_bytes(self.transport)
        if waiting <= settings.WEBSOCKET_SEND_BUFFER_BYTES:
            return super().serverSend(content, binary)
        self.dropped = True
        ids = [int(found) for found in NOTIFICATION_IDS.findall(frame)]
        logger.warning(
            "Socket %s %s stopped reading: %d bytes unsent (limit %d); closed, dropping a "
            "frame of %d bytes (notifications %s) and what was unsent; the page catches up "
            "from the database when it reconnects",
            self.client_addr, self.path.decode("ascii", "replace"), waiting,
            settings.WEBSOCKET_SEND_BUFFER_BYTES, len(frame), ids or "none",
        )
        metrics.socket_send_dropped(frames=1, dropped_bytes=waiting + len(frame), closed=True)
        self.transport.abortConnection()
        return None


def install() -> None:
    """Make daphne build its WebSocket connections from ``BoundedSendProtocol`` (call before
    run, after ``config.websocket_close_codes.install``, whose behaviour it keeps)."""
    WebSocketFactory.protocol = BoundedSendProtocol
