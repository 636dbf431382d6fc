"""Serve the whole product from one process: daphne, a Celery worker and Celery beat.

This is the embedded mode of ``make run``: with the ``memory://`` broker the worker must live
in the process that enqueues, so it runs as threads beside daphne. In services mode the
Procfile starts web, worker and beat as separate processes instead.
"""

import logging
import threading

from celery.beat import EmbeddedService
from celery.worker import WorkController
from daphne.cli import CommandLineInterface
from django.core.management.base import BaseCommand

from config.celery import app
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


class Command(BaseCommand):
    help = "Serve web, real-time, worker and beat in one process (embedded mode)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument(
            "--web-only", action="store_true", help="Serve HTTP and WebSockets without Celery."
        )

    def handle(self, *args, host, port, web_only, **options):
        if not web_only:
            start_embedded_worker()
            start_embedded_beat()
            self.stdout.write("Celery worker and beat running in this process.")
        self.stdout.write(f"Herald serving on http://{host}:{port}/")
        cli = CommandLineInterface()
        cli.server_class = RestartAwareServer  # open sockets get 1012 on shutdown: browsers reconnect
        cli.run(["--bind", host, "--port", str(port), "config.asgi:application"])
