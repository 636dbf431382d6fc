"""Refuse oversized HTTP request bodies before they are buffered.

Django's ASGI handler reads the whole body (to a temporary file past 2.5 MB) before any view or
``DATA_UPLOAD_MAX_MEMORY_SIZE`` check runs, and daphne accepts a body of any size. This
middleware sits in front of it: a ``Content-Length`` over ``REQUEST_MAX_BODY_BYTES`` is answered
413 without reading a byte, and a body without one (chunked) is counted chunk by chunk and
answered 413 as soon as it passes the limit. Bodies within the limit are handed on unchanged.
"""

from __future__ import annotations

import json
from collections import deque

from django.conf import settings


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
        body = json.dumps(
            {"detail": f"Request body too large: the limit is {limit} bytes."}
        ).encode()
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
