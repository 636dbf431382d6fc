"""Real sockets: session cookies made in bulk, a throwaway Redis, a multi-process server."""

import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.contrib.sessions.backends.db import SessionStore

from tests.factories import UserFactory
from tests.live_server import free_port


def session_cookies(count: int, *, prefix: str = "page") -> list[tuple[int, str]]:
    """``count`` users, each logged in: (user id, session key), made without the login form."""
    users = [UserFactory(username=f"{prefix}{n}") for n in range(count)]
    cookies = []
    for user in users:
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.create()
        cookies.append((user.pk, session.session_key))
    return cookies


class ThrowawayRedis:
    """A redis-server of this test's own, on a free port, that the test may kill and restart."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="herald-redis-")
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: apt-get install -y redis-server")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the throwaway redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(autouse=True)
async def close_database_connections():
    """ORM calls of these async tests run on asgiref's one sync thread: close its connection
    afterwards, or the test database cannot be dropped at the end of the run."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def throwaway_redis():
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()
