"""Embedded mode end to end: the product served from one process with nothing but Python.

The server runs as a subprocess with an empty environment (only PATH, and a throwaway SQLite
file so the developer's own database is untouched): no REDIS_URL, so the in-memory channel layer,
local-memory cache and the in-process Celery worker and beat are in play.
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.smoke


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base_url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready in time")


EVERY_SECOND_SWEEP = """
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
changed = PeriodicTask.objects.filter(task="notifications.delivery.enqueue_due_deliveries")
assert changed.update(interval=every_second, crontab=None) == 1
"""


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("embedded")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'herald.sqlite3'}",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    demo_output = ""
    for command in (["migrate", "--noinput"], ["load_demo_data"]):
        result = subprocess.run(manage + command, env=env, cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        demo_output = result.stdout
    # The delivery sweep's row every second instead of at each minute's turn, so the beat test
    # sees beat read a database row and the worker run it without waiting up to a minute.
    result = subprocess.run(
        manage + ["shell", "-c", EVERY_SECOND_SWEEP], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    process = subprocess.Popen(
        manage + ["serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, process)
        yield base_url, process, demo_output, tmp_path / "server.log"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read()[-4000:])
        log.close()


def log_in(base_url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=5)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={"username": username, "password": password,
              "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{base_url}/accounts/login/"},
    )
    assert response.status_code == 302, response.text[:500]
    return client


def test_embedded_server_serves_pages_and_sockets(embedded_server):
    base_url, process, _, _ = embedded_server

    assert httpx.get(f"{base_url}/", timeout=5).status_code == 200
    assert httpx.get(f"{base_url}/health/ready", timeout=5).json() == {"status": "ok"}
    ready = log_in(base_url, "admin", "herald-demo").get("/health/ready").json()
    assert ready["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}

    client = log_in(base_url, "alice", "herald-demo")
    cookie = f"sessionid={client.cookies['sessionid']}"

    async def connect_socket():
        uri = base_url.replace("http", "ws") + "/ws/notifications/"
        async with websockets.connect(
            uri, additional_headers={"Cookie": cookie}, origin=base_url
        ) as socket_:
            await socket_.ping()
            return socket_.state.name

    assert asyncio.run(connect_socket()) == "OPEN"

    async def anonymous_socket_close_code():
        uri = base_url.replace("http", "ws") + "/ws/notifications/"
        async with websockets.connect(uri, origin=base_url) as socket_:
            try:
                await asyncio.wait_for(socket_.recv(), 5)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code

    assert asyncio.run(anonymous_socket_close_code()) == 4401


def test_embedded_worker_pushes_a_toast_to_the_open_page(embedded_server):
    """The in-process Celery worker delivers through the in-memory layer to the open socket."""
    base_url, _, demo_output, _ = embedded_server
    workshop = re.search(r"Django Channels workshop.*?/events/(\d+)/", demo_output)
    assert workshop, demo_output
    event_path = f"/events/{workshop.group(1)}/"
    client = log_in(base_url, "admin", "herald-demo")
    cookie = f"sessionid={client.cookies['sessionid']}"

    async def register_and_wait_for_toast():
        uri = base_url.replace("http", "ws") + "/ws/notifications/"
        async with websockets.connect(uri, additional_headers={"Cookie": cookie}, origin=base_url) as sock:
            await sock.ping()
            response = await asyncio.to_thread(
                client.post,
                event_path + "register/",
                data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
                headers={"Referer": base_url + event_path},
            )
            assert response.status_code in (200, 302), response.text[:300]
            received = ""
            while 'id="notification-' not in received:
                received += await asyncio.wait_for(sock.recv(), 10)
            return received

    assert 'id="notification-' in asyncio.run(register_and_wait_for_toast())


def test_embedded_beat_runs_the_database_schedules(embedded_server):
    """Beat inside the server reads django-celery-beat's PeriodicTask rows (the delivery
    sweep's, set to every second by the fixture), and the in-process worker runs them."""
    _, _, _, log_path = embedded_server
    # Beat's "Sending due task" line comes before the worker has run the task: wait for the
    # worker's own line, "Task …enqueue_due_deliveries[<id>] succeeded in …".
    ran = re.compile(r"Task \S*enqueue_due_deliveries\[[^]]+\] succeeded")
    deadline = time.monotonic() + 30
    log = ""
    while time.monotonic() < deadline:
        log = log_path.read_text()
        if ran.search(log):
            break
        time.sleep(0.5)
    assert "Sending due task" in log, log[-2000:]
    assert ran.search(log), log[-2000:]


def test_embedded_server_stops_cleanly_on_interrupt(embedded_server):
    """Ctrl-C stops daphne, the worker and beat threads together (runs last in this module)."""
    _, process, _, _ = embedded_server
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
