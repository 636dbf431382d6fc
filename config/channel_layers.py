"""The embedded-mode channel layer.

In embedded mode the Celery worker runs on threads of the server process and pushes into the
in-memory channel layer from its own event loop. ``asyncio.Queue`` is not thread-safe: a put from
another thread does not wake the server loop, so a toast would wait for the loop's next timer.
This layer hands every send made off the server's loop over to that loop.
"""

import asyncio

from channels.layers import InMemoryChannelLayer


class EmbeddedChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._server_loop: asyncio.AbstractEventLoop | None = None

    def _foreign_loop(self) -> asyncio.AbstractEventLoop | None:
        """The server loop, when the caller runs on another one (a worker thread)."""
        loop = self._server_loop
        if loop is None or loop.is_closed() or loop is asyncio.get_running_loop():
            return None
        return loop

    async def receive(self, channel):
        self._server_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel, message):
        loop = self._foreign_loop()
        if loop is None:
            return await super().send(channel, message)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(super().send(channel, message), loop))

    async def group_send(self, group, message):
        loop = self._foreign_loop()
        if loop is None:
            return await super().group_send(group, message)
        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(super().group_send(group, message), loop)
        )

