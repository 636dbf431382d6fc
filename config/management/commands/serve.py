"""Serve the product: daphne, plus (embedded mode) a Celery worker and beat in the same process.

Embedded mode (``make run`` with no services): with the ``memory://`` broker the worker must live
in the process that enqueues, so it runs as threads beside one daphne.

Services mode (``--web-only``, the Procfile's ``web``): ``--processes N`` daphne processes share
one listening socket that this process opens and hands down, so the kernel spreads connections
over them and each can use a core. This process only supervises: it restarts a process that dies
and passes SIGTERM/SIGINT on, so every socket gets its 1012 close on shutdown.
"""

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from celery.beat import EmbeddedService
from celery.worker import WorkController
from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from config import (
    autobahn_connect,
    daphne_body_limit,
    websocket_backpressure,
    websocket_close_codes,
)
from config.celery import app
from config.collector import tune_garbage_collector
from config.websocket_shutdown import RestartAwareServer

logger = logging.getLogger(__name__)


def start_embedded_worker(*, concurrency: int = 4) -> WorkController:
    """Start a Celery worker consuming every queue on threads of this process."""
    worker = WorkController(
        app=app,
        pool="threads",
        concurrency=concurrency,
        hostname="embedded@herald",
        queues=["urgent", "default", "bulk"],
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    threading.Thread(target=worker.start, name="celery-worker", daemon=True).start()
    return worker


def start_embedded_beat():
    # Without scheduler_cls the embedded service uses the file-based PersistentScheduler and
    # never runs the PeriodicTask rows (CELERY_BEAT_SCHEDULER names the database scheduler).
    beat = EmbeddedService(app, thread=True, scheduler_cls=app.conf.beat_scheduler)
    beat.daemon = True
    beat.start()
    return beat


LISTEN_BACKLOG = 4096  # a reconnect storm after a deploy queues here instead of being refused
RESTART_PAUSE_SECONDS = 1.0
STOP_GRACE_SECONDS = 15


def listening_socket(host: str, port: int) -> socket.socket:
    # IPv4 only: twisted's "fd:" endpoint adopts an AF_INET socket.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def run_daphne(*, bind: list[str]) -> None:
    cli = CommandLineInterface()
    cli.server_class = RestartAwareServer  # open sockets get 1012 on shutdown: browsers reconnect
    websocket_close_codes.install()  # 1003/1007/1008/1009 from the consumers reach the client
    websocket_backpressure.install()  # a socket whose client stopped reading is closed, counted
    daphne_body_limit.install()  # an oversized request body is refused while it arrives, not stored
    autobahn_connect.install()  # no pretty-printed debug line per connection that nobody logs
    frame_limit = str(settings.SOCKET_MAX_FRAME_BYTES)
    tune_garbage_collector()
    cli.run(
        [
            *bind,
            "--ping-interval", str(settings.WEBSOCKET_PING_INTERVAL_SECONDS),
            "--ping-timeout", str(settings.WEBSOCKET_PING_TIMEOUT_SECONDS),
            "--websocket_connect_timeout", str(settings.WEBSOCKET_HANDSHAKE_TIMEOUT_SECONDS),
            # Verbosity 0: no access log at all (one written to /dev/null is still formatted for
            # every handshake); the project's own logging is configured by Django, not here.
            *([] if settings.WEB_ACCESS_LOG else ["--verbosity", "0"]),
            # Larger frames and messages are refused by the server itself (1009), unread.
            "--websocket-max-message-size", frame_limit, "--websocket-max-frame-size", frame_limit,
            "config.asgi:application",
        ]
    )


class Supervisor:
    """Keeps ``count`` daphne processes serving one inherited listening socket."""

    def __init__(self, *, sock: socket.socket, count: int, stdout):
        self.sock = sock
        self.count = count
        self.stdout = stdout
        self.children: dict[int, subprocess.Popen] = {}
        self.stopping = False

    def spawn(self, slot: int) -> None:
        fd = self.sock.fileno()
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve", "--web-only",
                   "--fd", str(fd)]
        self.children[slot] = subprocess.Popen(command, pass_fds=[fd])

    def stop(self, signum, _frame) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signum)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for slot in range(self.count):
            self.spawn(slot)
        while not self.stopping:
            time.sleep(0.2)
            for slot, child in list(self.children.items()):
                if child.poll() is not None and not self.stopping:
                    logger.error("Web process %s (pid %s) exited with %s; starting another",
                                 slot, child.pid, child.returncode)
                    time.sleep(RESTART_PAUSE_SECONDS)
                    self.spawn(slot)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        self.sock.close()


class Command(BaseCommand):
    help = "Serve web and real-time; in embedded mode also the Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument(
            "--web-only", action="store_true", help="Serve HTTP and WebSockets without Celery."
        )
        parser.add_argument(
            "--processes", type=int, default=None,
            help="Web processes sharing the socket (--web-only; default WEB_PROCESSES, 0 = one "
            "per core).",
        )
        parser.add_argument("--fd", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args, host, port, web_only, processes, fd, **options):
        if fd is not None:  # one web process under the supervisor
            run_daphne(bind=["--fd", str(fd)])
            return
        if not web_only:
            start_embedded_worker()
            start_embedded_beat()
            self.stdout.write("Celery worker and beat running in this process.")
            processes = 1
        count = settings.WEB_PROCESSES if processes is None else processes
        count = count or os.cpu_count() or 1
        if count > 1 and settings.EMBEDDED_MODE:
            # The in-memory channel layer reaches only its own process.
            self.stdout.write("Embedded mode serves from one process.")
            count = 1
        if count > 1 and ":" in host:
            self.stdout.write("Several web processes need an IPv4 address; serving from one.")
            count = 1
        self.stdout.write(f"Herald serving on http://{host}:{port}/ ({count} web process"
                          f"{'es' if count > 1 else ''})")
        if count == 1 and ":" in host:
            run_daphne(bind=["--bind", host, "--port", str(port)])
            return
        sock = listening_socket(host, int(port))
        if count == 1:
            # Served from this process, on the socket with the deep accept queue (Twisted's own
            # listen() would queue only 50 handshakes).
            run_daphne(bind=["--fd", str(sock.fileno())])
            return
        Supervisor(sock=sock, count=count, stdout=self.stdout).run()
