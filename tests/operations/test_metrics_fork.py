"""A fork while another thread holds prometheus-client's multiprocess lock (the metrics sampler,
a Celery pool thread) gives a child that can still record metrics, instead of one that waits
on a copy of the lock held by a thread it does not have."""

import os
import threading
import time

from operations import metrics


def test_the_multiprocess_lock_is_found_in_the_pinned_prometheus_client():
    # The guard depends on a closure of prometheus-client's value class, not on its public API.
    assert metrics.multiprocess_lock() is not None
    assert metrics.multiprocess_lock() is metrics._LOCK


def test_a_child_forked_while_another_thread_holds_the_metrics_lock_does_not_hang():
    held, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with metrics._LOCK:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(5)
    # The fork waits for the lock (the guard's before-fork step); let the holder finish soon.
    threading.Timer(0.2, release.set).start()
    pid = os.fork()
    if pid == 0:  # the child: one metric update, then out
        try:
            metrics.sample_process()
            metrics.WEBSOCKETS_OPEN.labels("test").inc(0)
        finally:
            os._exit(0)
    holder.join(5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the child forked while the metrics lock was held is stuck on it")
