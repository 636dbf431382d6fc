"""A real server for tests: ``manage.py serve --web-only`` in a subprocess on a free port.

It runs against this test run's database and Redis, so rows a test commits and events it
publishes reach the server at once.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database pytest-django created for this run (test_<name>)."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("Browser tests need PostgreSQL: set DATABASE_URL to a postgres:// URL.")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


class LiveServer:
    """Daphne serving the project in a subprocess; can be stopped and started on the same port."""

    def __init__(self, *, env: dict[str, str], port: int, log_path: Path):
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "serve", "--web-only",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()  # a server that came up late would otherwise outlive the run
        raise AssertionError(f"server did not answer within {timeout}s:\n{tail}")

    def stop(self) -> None:
        """SIGTERM, as a process manager does on a restart; daphne closes its sockets first."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int, chars: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, errors="replace") as log:
            log.seek(offset)
            return log.read()[-chars:]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text()[-chars:] if self.log_path.exists() else ""


def server_environment(**overrides: str) -> dict[str, str]:
    """The environment of a server process on this test run's database and Redis."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST"))
    }
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="true",
        DEBUG="true",
        LOG_LEVEL="WARNING",
        WEB_PROCESSES="1",
        # As in production: a socket's session and user lookups reuse the process's connection.
        DATABASE_CONN_MAX_AGE="60",
    )
    env.update(overrides)
    return env
