"""A small HTTP/2 client on ``h2`` (python-hyper's protocol library) and asyncio, for APNs and FCM.

What the push backends need and no more: ``POST`` requests with small bodies, many at once as
streams of one TLS connection per origin. ``httpx`` did the same through four layers (httpx,
httpcore, anyio, h2) that cost several times the protocol work per request; at thousands of
pushes a second per worker those layers were most of the worker's CPU (docs/benchmarks.md).

- One connection per origin, opened on first use (TLS with ALPN ``h2``; HTTP/1.1 is refused)
  and kept for later requests; one idle longer than ``IDLE_REUSE_SECONDS`` is replaced.
- Streams beyond the server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` wait for a free one.
- Flow control: bodies wait for window; received data is acknowledged as it is read.
- ``GOAWAY``: streams the server did not process, and requests that found the connection
  closing, go once more on a new connection; a stream cut mid-answer fails (it may have been
  delivered, so the caller's retry policy decides).
- Outbound headers are not re-validated (the backends write them lowercase and well-formed),
  and ``authorization`` is indexed in the HPACK table like any header, so a provider token is
  sent in full once per connection instead of once per request. HPACK matches whole values
  only, so indexing leaks nothing a guess could test byte by byte.

Timeouts belong to the caller (``asyncio.wait_for``); errors are ``Http2Error`` (or ``OSError``
from the socket).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

READ_SIZE = 65536
# Streams opened in one event-loop turn go out together, but no more than this many at a time:
# the server starts on the first ones while the rest are still being encoded.
FLUSH_STREAMS = 25
# A connection left idle longer than this is closed and replaced instead of reused: a provider
# or a middlebox may have dropped it without a word, and a request on a dead connection would
# only fail at its timeout.
IDLE_REUSE_SECONDS = 30.0


class Http2Error(Exception):
    """The request did not get a complete answer (connection lost, stream reset, refused)."""


class _NotProcessed(Http2Error):
    """The server never handled this request (GOAWAY above it, or the connection was closing
    before it went out): safe to send again on a new connection."""


# What a request can fail with besides an answer: the protocol, the socket, TLS, the timeout.
TRANSPORT_ERRORS = (Http2Error, OSError)


class Headers(dict):
    """Response headers, names lowercase (as HTTP/2 sends them); ``get`` ignores case."""

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


@dataclass
class Response:
    status_code: int
    headers: Headers
    content: bytes

    def json(self):
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass
class _Stream:
    future: asyncio.Future
    status: int = 0
    headers: Headers = field(default_factory=Headers)
    body: list[bytes] = field(default_factory=list)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader, self._writer = reader, writer
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding="utf-8",
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            # Only ``:status`` and a few named headers are read from an answer, and a
            # malformed one fails its stream (``_read_loop``): h2's checks of every inbound
            # header against the RFC's rules were a tenth of the client's CPU.
            validate_inbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config=config)
        self._h2.initiate_connection()
        # Answers of a few KB at most: a large window saves WINDOW_UPDATE round trips.
        self._h2.increment_flow_control_window(2**24)
        self._streams: dict[int, _Stream] = {}
        self._changed = asyncio.Event()  # a stream ended, a window opened, settings changed
        self._settled = asyncio.Event()  # the server's first SETTINGS frame arrived (or it failed)
        self.error: Http2Error | None = None  # set once the connection takes no new streams
        self._flush_scheduled = False
        self._unflushed_streams = 0
        self.last_active = asyncio.get_running_loop().time()
        self._flush()
        self._reading = asyncio.ensure_future(self._read_loop())

    @property
    def usable(self) -> bool:
        return self.error is None

    def idle_for(self, now: float) -> float:
        """Seconds without a stream open or a byte received."""
        return 0.0 if self._streams else now - self.last_active

    async def settled(self) -> None:
        """Wait for the server's first SETTINGS frame: until then its stream limit is unknown,
        and a server may answer streams beyond it with GOAWAY (PROTOCOL_ERROR)."""
        await self._settled.wait()
        if self.error is not None:
            raise self.error

    def _flush(self) -> None:
        """Send what h2 has queued, once per turn of the event loop: the streams a batch opens
        in one turn go out in a few TLS writes (``FLUSH_STREAMS`` streams each) instead of one
        each."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._write_queued)

    def _write_queued(self) -> None:
        self._flush_scheduled = False
        self._unflushed_streams = 0
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def _wait_for_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    async def request(self, headers: list[tuple[str, str]], body: bytes) -> Response:
        while self.error is None and len(self._streams) >= self._h2.remote_settings.max_concurrent_streams:
            await self._wait_for_change()
        if self.error is not None:
            raise _NotProcessed(str(self.error))
        self.last_active = asyncio.get_running_loop().time()
        stream_id = self._h2.get_next_available_stream_id()
        stream = _Stream(asyncio.get_running_loop().create_future())
        self._streams[stream_id] = stream
        try:
            self._h2.send_headers(stream_id, headers, end_stream=not body)
            while body:
                window = min(
                    self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
                )
                if window <= 0:
                    self._flush()
                    await self._wait_for_change()
                    if self.error is not None:
                        raise self.error
                    continue
                chunk, body = body[:window], body[window:]
                self._h2.send_data(stream_id, chunk, end_stream=not body)
            self._unflushed_streams += 1
            if self._unflushed_streams >= FLUSH_STREAMS:
                self._write_queued()
            else:
                self._flush()
            return await stream.future
        except h2.exceptions.ProtocolError as exc:
            raise Http2Error(f"HTTP/2: {type(exc).__name__}: {exc}") from exc
        finally:
            self._streams.pop(stream_id, None)
            if not stream.future.done():  # cancelled (a timeout): tell the server
                stream.future.cancel()
                try:
                    self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                    self._flush()
                except (h2.exceptions.ProtocolError, h2.exceptions.StreamClosedError):
                    pass
            self._changed.set()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(READ_SIZE)
                if not data:
                    raise Http2Error("HTTP/2: the server closed the connection")
                self.last_active = asyncio.get_running_loop().time()
                for event in self._h2.receive_data(data):
                    self._handle(event)
                self._flush()
        except asyncio.CancelledError:
            self._fail(Http2Error("HTTP/2: connection closed"))
            raise
        except (OSError, ValueError, h2.exceptions.ProtocolError, Http2Error) as exc:
            error = exc if isinstance(exc, Http2Error) else Http2Error(f"HTTP/2: {exc!r}")
            self._fail(error)

    def _handle(self, event) -> None:
        stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.ResponseReceived) and stream:
            for name, value in event.headers:
                if name == ":status":
                    stream.status = int(value)
                else:
                    stream.headers[name] = value
        elif isinstance(event, h2.events.DataReceived):
            if stream:
                stream.body.append(event.data)
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded) and stream:
            if not stream.future.done():
                stream.future.set_result(
                    Response(stream.status, stream.headers, b"".join(stream.body))
                )
        elif isinstance(event, h2.events.StreamReset) and stream:
            if not stream.future.done():
                # REFUSED_STREAM: the server did not start on it.
                refused = event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
                error = (_NotProcessed if refused else Http2Error)(
                    f"HTTP/2: stream reset by the server ({event.error_code!r})"
                )
                stream.future.set_exception(error)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.error = Http2Error(f"HTTP/2: GOAWAY ({event.error_code!r})")
            self._settled.set()
            for stream_id, pending in list(self._streams.items()):
                if stream_id > (event.last_stream_id or 0) and not pending.future.done():
                    pending.future.set_exception(_NotProcessed(str(self.error)))
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self._settled.set()
            self._changed.set()

    def _fail(self, error: Http2Error) -> None:
        self.error = self.error or error
        self._settled.set()
        for stream in self._streams.values():
            if not stream.future.done():
                stream.future.set_exception(error)
        self._changed.set()
        self._writer.close()

    async def close(self) -> None:
        if self.error is None:
            self.error = Http2Error("HTTP/2: connection closed")
            try:
                self._h2.close_connection()
                self._write_queued()
            except h2.exceptions.ProtocolError:
                pass
        self._reading.cancel()
        try:
            await self._reading
        except asyncio.CancelledError:
            pass
        self._writer.close()


class Http2Client:
    """POSTs over one HTTP/2 connection per origin. Use on one event loop."""

    def __init__(self, *, ssl_context: ssl.SSLContext, timeout: float):
        """``timeout``: seconds for the connection's handshake, and for each request's answer
        (waiting for a free stream included)."""
        ssl_context.set_alpn_protocols(["h2"])
        self._ssl = ssl_context
        self._timeout = timeout
        self._connections: dict[tuple[str, int], _Connection] = {}
        self._opened: list[_Connection] = []
        self._closing: set[asyncio.Future] = set()
        self._connecting: dict[tuple[str, int], asyncio.Future] = {}

    async def _connection(self, host: str, port: int) -> _Connection:
        key = (host, port)
        connection = self._connections.get(key)
        if connection is not None:
            idle = connection.idle_for(asyncio.get_running_loop().time())
            if connection.usable and idle <= IDLE_REUSE_SECONDS:
                return connection
            self._connections.pop(key, None)
            self._opened.remove(connection)
            if connection.usable:  # a GOAWAY, then the socket closes
                closing = asyncio.ensure_future(connection.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        # Concurrent first requests share one handshake.
        if key not in self._connecting:
            self._connecting[key] = asyncio.ensure_future(self._connect(host, port))
        try:
            connection = await asyncio.shield(self._connecting[key])
        finally:
            if self._connecting.get(key) is not None and self._connecting[key].done():
                self._connecting.pop(key, None)
        self._connections[key] = connection
        return connection

    async def _connect(self, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=self._ssl, server_hostname=host),
            self._timeout,
        )
        protocol = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        if protocol != "h2":
            writer.close()
            raise Http2Error(f"HTTP/2: {host}:{port} does not speak HTTP/2 (ALPN {protocol!r})")
        connection = _Connection(reader, writer)
        self._opened.append(connection)
        try:
            await asyncio.wait_for(connection.settled(), self._timeout)
        except BaseException:
            self._opened.remove(connection)
            await connection.close()
            raise
        return connection

    async def post(self, url: str, *, headers: dict[str, str], content: bytes) -> Response:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 443
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request_headers = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", parts.netloc),
            (":path", path),
            *((name.lower(), value) for name, value in headers.items()),
            ("content-length", str(len(content))),
        ]
        async with asyncio.timeout(self._timeout):
            for attempt in (1, 2):
                connection = await self._connection(host, port)
                try:
                    return await connection.request(request_headers, content)
                except _NotProcessed:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        connections, self._opened, self._connections = self._opened, [], {}
        for connection in connections:
            await connection.close()
