"""daphne refuses an oversized request body while it arrives (``config.body_limit`` says why).

Kept apart from ``config.body_limit``: importing daphne's server installs twisted's reactor, which
only the ``serve`` command may do.
"""

from __future__ import annotations

import io

import daphne.server
from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings

from config.body_limit import refusal_body


class BodyLimitedRequest(WebRequest):
    """daphne's request, refusing a body over ``REQUEST_MAX_BODY_BYTES`` while it arrives."""

    _body_size = 0
    _refused = False

    def gotLength(self, length):
        if length is not None and length > settings.REQUEST_MAX_BODY_BYTES:
            self.content = io.BytesIO()  # nothing is stored; the channel may still call back
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._body_size += len(data)
        if self._body_size > settings.REQUEST_MAX_BODY_BYTES:
            self._refuse()
            return
        super().handleContentChunk(data)

    def _refuse(self) -> None:
        # The request never reaches the application: answer on the connection and close it.
        self._refused = True
        body = refusal_body(settings.REQUEST_MAX_BODY_BYTES)
        head = (
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self.channel.transport.write(head.encode() + body)
        self.channel.loseConnection()


class BodyLimitedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BodyLimitedRequest
        return protocol


def install() -> None:
    """Make daphne build its HTTP connections with ``BodyLimitedRequest`` (call before run).

    daphne's server makes its factory from the name ``daphne.server.HTTPFactory``;
    ``tests/security/test_payload_limits.py`` checks the result through a real server, so a
    daphne upgrade that moves it fails a test instead of buffering bodies again."""
    daphne.server.HTTPFactory = BodyLimitedHTTPFactory
