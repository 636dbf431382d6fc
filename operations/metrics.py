"""Prometheus metrics of every Herald process, and the functions the code calls to move them.

prometheus-client's multiprocess mode: each process (daphne web processes, Celery worker
processes, beat) writes its samples to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``
(``settings.METRICS_DIR``), and ``/metrics`` sums the files of every process on the host.
Counters and histograms of a process that exited stay in the sum; gauges are per live process
(``pid`` label) and the files of dead processes are removed (``process_started``,
``process_exited``). Values read from other stores at scrape time (queue depth, breaker state)
come from ``operations.collectors``.

Every function here is cheap (a few memory writes) and never raises into the caller.
"""

from __future__ import annotations

import atexit
import collections
import glob
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram, multiprocess, values

logger = logging.getLogger(__name__)

if values.ValueClass.__name__ != "MmapedValue":
    # Imported before config.settings set PROMETHEUS_MULTIPROC_DIR: this process would keep its
    # numbers to itself and /metrics would never see them.
    logger.error("prometheus-client is not in multiprocess mode; /metrics misses this process")

# Buckets in seconds: sub-millisecond socket pushes up to a provider that takes a minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# --- WebSockets ------------------------------------------------------------------------------
WEBSOCKETS_OPEN = Gauge(
    "herald_websockets_open", "WebSockets open in this web process.", ["role"],
    multiprocess_mode="liveall",
)
WEBSOCKET_CONNECTS = Counter(
    "herald_websocket_connects", "WebSockets accepted.", ["consumer"]
)
WEBSOCKET_DISCONNECTS = Counter(
    "herald_websocket_disconnects", "WebSockets closed, by close code.", ["consumer", "code"]
)
WEBSOCKET_FRAMES_DROPPED = Counter(
    "herald_websocket_frames_dropped",
    "Frames not delivered to a socket whose client stopped reading (closed for it; its page "
    "catches up on reconnect).",
)
WEBSOCKET_BYTES_DROPPED = Counter(
    "herald_websocket_bytes_dropped",
    "Bytes of those frames, and of those still unsent when the socket was closed.",
)
WEBSOCKET_SLOW_CLOSED = Counter(
    "herald_websocket_slow_closed", "Sockets closed because their client stopped reading."
)

# --- Notifications -----------------------------------------------------------------------------
NOTIFICATIONS_CREATED = Counter(
    "herald_notifications_created", "Notification rows created (committed).", ["kind", "priority"]
)
NOTIFICATIONS_SILENCED = Counter(
    "herald_notifications_silenced",
    "Notifications stored without a toast, by reason (quiet_hours, rate_limit) or without an "
    "in-app row at all because the recipient turned the channel off (preference).",
    ["reason"],
)
INAPP_PUSHES = Counter("herald_inapp_pushes", "In-app notification events sent to sockets.")
INAPP_PUSH_LATENCY = Histogram(
    "herald_inapp_push_latency_seconds",
    "From the notification's commit (its push task being queued) to the socket send.",
    buckets=LATENCY_BUCKETS,
)

# --- External delivery ---------------------------------------------------------------------------
DELIVERIES = Counter(
    "herald_deliveries",
    "Delivery attempts by outcome (sent, failed, dead, deferred).",
    ["channel", "status"],
)
DELIVERY_ATTEMPTS = Counter(
    "herald_delivery_attempts", "Delivery rows claimed for a provider call.", ["channel"]
)
DEAD_LETTERS = Counter(
    "herald_dead_letters", "Delivery rows that became dead letters.", ["channel"]
)
DELIVERY_LATENCY = Histogram(
    "herald_delivery_latency_seconds",
    "From the Delivery row's creation to the provider accepting it.",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)

# --- HTTP and the process ------------------------------------------------------------------------
HTTP_LATENCY = Histogram(
    "herald_http_request_duration_seconds",
    "Django request handling time, by view name.",
    ["view", "method"],
    buckets=HTTP_BUCKETS,
)
HTTP_RESPONSES = Counter(
    "herald_http_responses", "HTTP responses by view and status class.", ["view", "status"]
)
PROCESS_CPU = Gauge(
    "herald_process_cpu_seconds", "CPU time (user + system) this process used.", ["role"],
    multiprocess_mode="liveall",
)
PROCESS_RSS = Gauge(
    "herald_process_resident_memory_bytes", "Resident memory of this process.", ["role"],
    multiprocess_mode="liveall",
)

SAMPLE_INTERVAL_SECONDS = 10
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _safe(function):
    """Metrics must never break the code they observe: log and carry on."""

    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001
            logger.warning("Metric update %s failed", function.__name__, exc_info=True)
            return None

    wrapped.__name__ = function.__name__
    wrapped.__doc__ = function.__doc__
    return wrapped


def role() -> str:
    """What this process is, for the ``role`` label: web, worker, beat or other."""
    argv = " ".join(sys.argv)
    if "celery" in argv:
        return "beat" if " beat" in argv else "worker"
    if "serve" in argv or "daphne" in argv:
        return "web"
    return "other"


# --- WebSockets ---------------------------------------------------------------------------------


@_safe
def socket_connected(consumer) -> None:
    """Call right after ``accept()``: the socket counts as open until ``socket_disconnected``."""
    consumer._metrics_open = True
    WEBSOCKET_CONNECTS.labels(type(consumer).__name__).inc()
    WEBSOCKETS_OPEN.labels(role()).inc()


@_safe
def socket_disconnected(consumer, code) -> None:
    """Call from ``disconnect(code)``; refused sockets (never counted open) count their code."""
    WEBSOCKET_DISCONNECTS.labels(type(consumer).__name__, str(code)).inc()
    if getattr(consumer, "_metrics_open", False):
        consumer._metrics_open = False
        WEBSOCKETS_OPEN.labels(role()).dec()


@_safe
def socket_send_dropped(*, frames: int, dropped_bytes: int, closed: bool) -> None:
    WEBSOCKET_FRAMES_DROPPED.inc(frames)
    WEBSOCKET_BYTES_DROPPED.inc(dropped_bytes)
    if closed:
        WEBSOCKET_SLOW_CLOSED.inc()


# --- Notifications --------------------------------------------------------------------------


@_safe
def notifications_created(
    *, kind: str, priority: str, created: int, quiet_hours: int, rate_limited: int,
    in_app_off: int,
) -> None:
    NOTIFICATIONS_CREATED.labels(kind, priority).inc(created)
    for reason, count in (
        ("quiet_hours", quiet_hours), ("rate_limit", rate_limited), ("preference", in_app_off)
    ):
        if count:
            NOTIFICATIONS_SILENCED.labels(reason).inc(count)


@_safe
def inapp_pushed(*, count: int, since: float) -> None:
    """``count`` events sent, the batch's push having been queued at ``since`` (epoch)."""
    if count:
        INAPP_PUSHES.inc(count)
    INAPP_PUSH_LATENCY.observe(max(0.0, time.time() - since))


# --- Delivery -----------------------------------------------------------------------------------


@_safe
def deliveries_claimed(rows: Iterable) -> None:
    # One increment per channel, not per row: a batch is hundreds of rows of one channel.
    for channel, count in collections.Counter(row.channel for row in rows).items():
        DELIVERY_ATTEMPTS.labels(channel).inc(count)


@_safe
def deliveries_finished(rows: Iterable, status: str) -> None:
    """Rows that ended one attempt in ``status`` (sent, failed, deferred); sent rows observe
    their latency. Dead letters go through ``dead_lettered``."""
    rows = list(rows)
    for channel, count in collections.Counter(row.channel for row in rows).items():
        DELIVERIES.labels(channel, status).inc(count)
    if status == "sent":
        now = time.time()
        latency = {}
        for row in rows:
            if row.channel not in latency:
                latency[row.channel] = DELIVERY_LATENCY.labels(row.channel)
            latency[row.channel].observe(max(0.0, now - row.created_at.timestamp()))


@_safe
def dead_lettered(channels: Iterable[str]) -> None:
    """One channel name per row that became a dead letter."""
    for channel in channels:
        DELIVERIES.labels(channel, "dead").inc()
        DEAD_LETTERS.labels(channel).inc()


# --- HTTP ------------------------------------------------------------------------------------------


@_safe
def http_request(*, view: str, method: str, status: int, seconds: float) -> None:
    HTTP_LATENCY.labels(view, method).observe(seconds)
    HTTP_RESPONSES.labels(view, f"{status // 100}xx").inc()


# --- The process ---------------------------------------------------------------------------------


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@_safe
def sample_process() -> None:
    times = os.times()
    label = role()
    PROCESS_CPU.labels(label).set(times.user + times.system)
    PROCESS_RSS.labels(label).set(_rss_bytes())


_sampler_pid: int | None = None


def _sample_forever() -> None:
    while True:
        sample_process()
        time.sleep(SAMPLE_INTERVAL_SECONDS)


def _start_sampler() -> None:
    """One daemon thread per process keeps its CPU and memory gauges fresh."""
    global _sampler_pid
    if _sampler_pid == os.getpid():
        return
    _sampler_pid = os.getpid()
    threading.Thread(target=_sample_forever, name="metrics-sampler", daemon=True).start()


_LIVE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@_safe
def remove_stale_gauges(directory: str | None = None) -> list[int]:
    """Drop the per-process gauge files of processes that no longer run (a killed worker, a
    crashed web process), so their sockets and memory stop counting. Returns those pids."""
    directory = directory or os.environ["PROMETHEUS_MULTIPROC_DIR"]
    dead = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        match = _LIVE_FILE.match(os.path.basename(path))
        if match and not _pid_alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    _remove_empty_files(directory)
    return sorted(dead)


_PID_FILE = re.compile(r"^\w+?_(\d+)\.db$")


def _remove_empty_files(directory: str) -> None:
    """Every short-lived command (migrate, check) leaves files of zeros behind; those add
    nothing to any sum, so they go. Files of exited processes that counted something stay:
    removing them would make their counters go backwards."""
    from prometheus_client.mmap_dict import MmapedDict

    for path in glob.glob(os.path.join(directory, "*.db")):
        match = _PID_FILE.match(os.path.basename(path))
        if not match or _pid_alive(int(match.group(1))):
            continue
        try:
            values = list(MmapedDict.read_all_values_from_file(path))
        except (OSError, ValueError):
            continue
        if all(value == 0 for _, value, _, _ in values):
            os.remove(path)


@_safe
def process_exited(pid: int | None = None) -> None:
    multiprocess.mark_process_dead(pid or os.getpid())


def process_started() -> None:
    """At start-up and after a fork: clean up after dead processes, start sampling this one."""
    remove_stale_gauges()
    _start_sampler()


def multiprocess_lock():
    """prometheus-client's one lock around every multiprocess sample (a closure of its value
    class, not public API; ``tests/operations/test_metrics_fork.py`` checks it is found)."""
    for method in ("inc", "set", "get"):
        for cell in getattr(getattr(values.ValueClass, method, None), "__closure__", None) or ():
            if isinstance(cell.cell_contents, type(threading.Lock())):
                return cell.cell_contents
    return None  # not in multiprocess mode: nothing to guard


_LOCK = multiprocess_lock()


def _before_fork() -> None:
    # A fork while another thread (the sampler, a Celery pool thread) is inside the lock would
    # leave the child a copy of the lock held by a thread it does not have: its first metric
    # would wait forever. Holding it across the fork means no sample is half-way through.
    if _LOCK is not None:
        _LOCK.acquire()


def _after_fork_in_parent() -> None:
    if _LOCK is not None:
        _LOCK.release()


def _after_fork() -> None:
    global _sampler_pid
    if _LOCK is not None:
        _LOCK.release()  # taken by _before_fork in the thread that forked, which is this one
    _sampler_pid = None
    _start_sampler()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork
)
atexit.register(process_exited)


class SettledFilesCollector:
    """prometheus-client's ``MultiProcessCollector``, minus the files another process has just
    created and not yet sized: its ``MmapedDict`` opens a new file (0 bytes) and only then
    extends it, and reading it in between raised ``struct.error`` out of the whole scrape.
    Such a file holds no value yet, and a sized file never shrinks, so skipping it loses
    nothing."""

    def __init__(self, directory: str | None = None):
        self.directory = directory or os.environ["PROMETHEUS_MULTIPROC_DIR"]

    def collect(self):
        return multiprocess.MultiProcessCollector.merge(
            _sized_files(self.directory), accumulate=True
        )


def _sized_files(directory: str) -> list[str]:
    sized = []
    for path in glob.glob(os.path.join(directory, "*.db")):
        try:
            if os.path.getsize(path) > 0:
                sized.append(path)
        except FileNotFoundError:  # a dead process's gauge file, removed since the glob
            continue
    return sized


def open_sockets_by_process() -> dict[str, int]:
    """``pid`` → open WebSockets, for every live web process on this host (from the files);
    other processes (a shell, a test run) only when they hold sockets."""
    from prometheus_client import CollectorRegistry

    remove_stale_gauges()  # a killed web process must not count until the next one starts
    registry = CollectorRegistry()
    registry.register(SettledFilesCollector())
    sockets: dict[str, int] = {}
    for family in registry.collect():
        if family.name == "herald_websockets_open":
            for sample in family.samples:
                if sample.value or sample.labels.get("role") == "web":
                    pid = sample.labels.get("pid", "")
                    sockets[pid] = sockets.get(pid, 0) + int(sample.value)
    return sockets
