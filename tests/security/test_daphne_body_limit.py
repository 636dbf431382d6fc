"""The body limit through a real daphne server (``manage.py serve``): an oversized body is
refused while it arrives, not stored first (twisted buffers a whole body before the ASGI
application sees a byte, so the application's own check comes too late there)."""

import json
import socket

import pytest

from tests.ui.conftest import asgi_server, module_asgi_server  # noqa: F401

pytestmark = pytest.mark.smoke

LIMIT = 1000
SERVER_ENV = {"REQUEST_MAX_BODY_BYTES": str(LIMIT)}


def open_connection(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_all(sock) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def request_head(extra: str) -> bytes:
    return (
        "POST /api/v1/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_a_declared_length_over_the_limit_is_413_on_the_headers_alone(asgi_server):  # noqa: F811
    with open_connection(asgi_server) as sock:
        sock.sendall(request_head("Content-Length: 5000000000\r\n"))
        answer = read_all(sock)  # the server answers and closes without waiting for a byte

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert f"the limit is {LIMIT} bytes" in json.loads(body)["detail"]


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(asgi_server):  # noqa: F811
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    total = 64 * 1024 * 1024
    sent = 0
    with open_connection(asgi_server) as sock:
        sock.sendall(request_head("Transfer-Encoding: chunked\r\n"))
        # A server that stored the body would take all 64 MB; this one closes after the limit,
        # so the sending fails long before (the kernel's buffers hold a few MB at most).
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
    assert sent < total


def test_a_body_within_the_limit_reaches_the_application(asgi_server):  # noqa: F811
    body = json.dumps({"kind": "event_updated", "recipients": [1], "context": {"x": "y" * 500}})
    assert len(body) < LIMIT
    with open_connection(asgi_server) as sock:
        sock.sendall(request_head(f"Content-Length: {len(body)}\r\nConnection: close\r\n")
                     + body.encode())
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 401")  # the API asked for its key: Django answered
