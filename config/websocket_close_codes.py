"""Let daphne close sockets with the RFC 6455 codes the consumers use (1003, 1007, 1008, 1009).

Daphne closes a socket through autobahn's ``sendClose``, which accepts only 1000 and 3000-4999
and raises for anything else, so a consumer's ``close(code=1008)`` would never reach the client.
The frame-level ``sendCloseFrame`` sends any valid code (``config.websocket_shutdown`` sends 1012
the same way). And when autobahn itself refuses a frame (larger than the limit, not valid
UTF-8) it drops the TCP connection by default; here it sends the close frame first (1009, 1007),
so the client learns why.
"""

from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol


class CloseCodeProtocol(WebSocketProtocol):
    def onOpen(self):
        self.failByDrop = False
        super().onOpen()

    def serverClose(self, code=None):
        if code is not None and 1000 < code < 3000:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            super().serverClose(code)


def install() -> None:
    """Make daphne build its WebSocket connections from ``CloseCodeProtocol`` (call before run)."""
    WebSocketFactory.protocol = CloseCodeProtocol
