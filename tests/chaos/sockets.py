"""Real WebSocket clients of the notifications socket, behaving as a page does: the session
cookie and Origin at the handshake, ``?last_id=`` of the newest notification shown, and, when the
server closes the socket with a code after which the page's script reconnects (1001, 1006,
1011-1013, and 4503: the channel layer is unavailable), a reconnect with backoff that catches
up from that id. They collect the notification ids of the
fragments they receive."""

from __future__ import annotations

import asyncio
import re

import websockets

TOAST = re.compile(r'id="notification-(\d+)"')
RECONNECT_CODES = {1001, 1006, 1011, 1012, 1013, 4503}


class PageSocket:
    def __init__(self, base_url: str, cookie: str, *, last_id: int = 0, reconnect: bool = True):
        self.base_url = base_url
        self.cookie = cookie
        self.last_id = last_id
        self.reconnect = reconnect
        self.frames: list[str] = []
        self.ids: list[int] = []
        self.close_codes: list[int] = []
        self.connects = 0
        self._socket = None
        self._runner: asyncio.Task | None = None
        self._closing = False

    @property
    def uri(self) -> str:
        return self.base_url.replace("http", "ws", 1) + f"/ws/notifications/?last_id={self.last_id}"

    async def _open(self):
        self._socket = await websockets.connect(
            self.uri, additional_headers={"Cookie": self.cookie}, origin=self.base_url,
            open_timeout=30,
        )
        self.connects += 1

    async def connect(self) -> PageSocket:
        await self._open()
        self._runner = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                async for frame in self._socket:
                    text = frame if isinstance(frame, str) else frame.decode()
                    self.frames.append(text)
                    for found in TOAST.findall(text):
                        self.ids.append(int(found))
                        self.last_id = max(self.last_id, int(found))
            except websockets.ConnectionClosed:
                pass
            code = self._socket.close_code or 1006
            self.close_codes.append(code)
            if self._closing or not self.reconnect or code not in RECONNECT_CODES:
                return
            while not self._closing:
                await asyncio.sleep(delay)
                try:
                    await self._open()
                    delay = 0.2
                    break
                except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
                    delay = min(delay * 2, 2.0)

    async def wait_for(self, predicate, *, timeout: float = 60, what: str = "frames") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; got ids {self.ids}, closes {self.close_codes}"
                )
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner
