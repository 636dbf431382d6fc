"""The Redis broker killed and started again empty, twice, while the worker runs a task with a
free slot left (so it holds a message unacknowledged and waits on the broker for the next): the
worker stays up and keeps consuming. Under honcho (``make run``) a worker that exits stops the web
processes and beat too.

Without ``config.broker_loss`` the loss crashes it: Celery closes the lost connection twice
(``collect()``, then ``close()``); the first close of the default channel fails at once reading
the pending ``BRPOP`` and leaves it open, and the second puts its unacknowledged message back
through the transport the first one detached (``Unrecoverable error: AttributeError("'NoneType'
object has no attribute 'hostname'")``)."""

import time

import pytest

from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos

SEND = """
from tests.chaos.naps import nap
nap.apply_async(args=[{seconds}], queue="default", task_id={task_id!r})
"""


def test_a_worker_holding_a_message_survives_its_broker_restarting_empty(make_stack):
    stack = make_stack()
    worker = stack.start_worker("--include", "tests.chaos.naps")
    for number, down in enumerate((0.3, 2.0), start=1):
        stack.django(SEND.format(seconds=2, task_id=f"held-{number}"))
        wait_until(lambda number=number: f"held-{number}] received" in stack.log_of(worker),
                   timeout=30, what=f"task held-{number} to be running")
        stack.redis.kill()
        time.sleep(down)  # the worker's reconnect attempts fail meanwhile
        stack.redis.start()
        wait_until(lambda number=number: worker.poll() is not None
                   or stack.log_of(worker).count("Connected to") > number,
                   timeout=60, what=f"the worker to reconnect ({number})")
        assert worker.poll() is None, stack.log_of(worker)[-3000:]
    log = stack.log_of(worker)
    assert "Unrecoverable error" not in log, log[-3000:]
    # And it still consumes: a task sent after the last restart runs.
    stack.django(SEND.format(seconds=0, task_id="after-the-restarts"))
    wait_until(lambda: "after-the-restarts] succeeded" in stack.log_of(worker), timeout=30,
               what="a task sent after the last restart")
    assert worker.poll() is None
