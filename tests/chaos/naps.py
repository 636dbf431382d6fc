"""A task that takes a little while (loaded into the chaos suite's worker with ``--include``), so
a broker restart finds tasks running and messages held unacknowledged."""

import time

from celery import shared_task


@shared_task(name="tests.chaos.naps.nap")
def nap(seconds: float) -> None:
    time.sleep(seconds)
