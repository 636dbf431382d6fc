"""Refuse oversized HTTP request bodies before they are buffered.

Two layers, both at ``REQUEST_MAX_BODY_BYTES``:

- In daphne (``config.daphne_body_limit``, installed by ``manage.py serve``): twisted stores a
  request's whole body (in memory, or a temporary file past 100 KB) before daphne hands the ASGI
  application its first byte, so the check has to run while the body arrives. ``BodyLimitedRequest`` answers a
  ``Content-Length`` over the limit with 413 as soon as the headers are in, and a body without
  one (chunked) as soon as it passes the limit, and closes the connection unread.
- In the ASGI application (``RequestBodyLimitMiddleware``), for any other ASGI server: Django's
  handler reads the whole body before any view or ``DATA_UPLOAD_MAX_MEMORY_SIZE`` check runs.
  A ``Content-Length`` over the limit is answered 413 without reading a byte, and a chunked body
  as soon as it passes the limit. Bodies within the limit are handed on unchanged.
"""

from __future__ import annotations

import json
from collections import deque

from django.conf import settings


def refusal_body(limit: int) -> bytes:
    """The 413's JSON body, naming the limit."""
    return json.dumps({"detail": f"Request body too large: the limit is {limit} bytes."}).encode()


class RequestBodyLimitMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.REQUEST_MAX_BODY_BYTES
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await self._refuse(send, limit)
        buffered: deque = deque()
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: the application sees it next
            size += len(message.get("body", b""))
            if size > limit:
                return await self._refuse(send, limit)
            if not message.get("more_body", False):
                break

        async def replay():
            return buffered.popleft() if buffered else await receive()

        return await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = refusal_body(limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
