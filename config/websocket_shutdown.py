"""Close open WebSockets with 1012 (Service Restart) when the server shuts down.

On SIGTERM/SIGINT daphne's shutdown hook cancels the application instances, but it stops at the
first connection that has no application yet (a raised KeyError, so the reactor does not wait)
and the reactor then drops every connection: a browser sees 1006. Here the hook tolerates such
connections and first sends a close frame with 1012, which tells any client, the HTMX ws
extension included (it reconnects after 1006/1011/1012/1013, never after 1000), that the server
is coming back, so the page reconnects and catches up.
"""

import asyncio
import logging

from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor, task

logger = logging.getLogger(__name__)

SERVICE_RESTART = 1012
# Long enough for the reactor to write the close frames before it drops the connections.
CLOSE_FRAME_GRACE_SECONDS = 0.3


class RestartAwareServer(Server):
    """Daphne's server, closing open sockets with 1012 before the applications are stopped."""

    def kill_all_applications(self):
        open_sockets = [
            protocol
            for protocol in list(self.connections)
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN
        ]
        for protocol in open_sockets:
            # autobahn's public sendClose() accepts only 1000 and 3000-4999; the frame-level call
            # sends any valid code, 1012 included.
            protocol.sendCloseFrame(code=SERVICE_RESTART, isReply=False)
        running = [
            details["application_instance"]
            for details in self.connections.values()
            if details.get("application_instance") is not None
            and not details["application_instance"].done()
        ]
        for instance in running:
            instance.cancel()
        logger.info("Closed %d sockets, stopped %d applications", len(open_sockets), len(running))
        stopped = defer.Deferred.fromFuture(asyncio.gather(*running, return_exceptions=True))
        # The reactor waits for this before dropping connections, so the frames reach the wire.
        grace_seconds = CLOSE_FRAME_GRACE_SECONDS if open_sockets else 0
        grace = task.deferLater(reactor, grace_seconds, lambda: None)
        return defer.gatherResults([stopped, grace], consumeErrors=True)
