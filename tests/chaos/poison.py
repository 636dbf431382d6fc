"""A task that kills the worker process running it, every time (loaded into the chaos suite's
worker with ``--include``)."""

import os
import signal

from celery import shared_task


@shared_task(name="tests.chaos.poison.kill_own_worker")
def kill_own_worker(marker_path: str) -> None:
    with open(marker_path, "a") as marker:
        marker.write("started\n")
    os.kill(os.getpid(), signal.SIGKILL)
