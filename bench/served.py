"""The product as ``make run`` serves it in services mode, started and stopped by a benchmark.

Shared by the benchmarks that measure the real processes (``sockets.py``, ``api.py``,
``graphql_subscriptions.py``): honcho with the Procfile (web processes, worker, beat) in a session
of its own on a free loopback port, against a PostgreSQL database and a Redis db of the
benchmark's own, which it creates, migrates, and drops or flushes on the way out; ``guarded``
bounds a run in time and takes down everything it started, also after Ctrl-C or a failure.
"""

import ctypes
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ERROR_LINE = re.compile(r"Traceback|ERROR|Exception|Too many connections|Timeout reading")


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def die_with_parent(sig=signal.SIGKILL) -> None:
    """Linux: this process gets ``sig`` when the process that started it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except OSError:
        pass


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def receive(pipe, kind: str, limit: float):
    """The next message of ``kind`` from a client pipe, or None past ``limit`` (monotonic)."""
    try:
        while pipe.poll(max(0.0, limit - time.monotonic())):
            message = pipe.recv()
            if message[0] == kind:
                return message[1] if len(message) > 1 else True
    except (EOFError, OSError):
        return None
    return None


class Deadline:
    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        left = max(0.0, self.at - time.monotonic())
        return left if cap is None else min(cap, left)

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise TimeoutError(f"global deadline reached during {what}")


class Run:
    """Everything this run started, so that ``cleanup`` can take it all down again."""

    def __init__(self):
        self.honcho = None
        self.tree = []  # psutil.Process of honcho's descendants, seen while it ran
        self.children = []  # multiprocessing processes (clients, floor server)
        self.database = None
        self.redis_url = None
        self.log_path = None
        self.keep_log = False
        self.cleaned = False
        self.own_redis = None  # a ThrowawayRedis the product runs on, when the benchmark kills it

    def remember_tree(self):
        import psutil

        if self.honcho is None:
            return
        try:
            seen = {p.pid for p in self.tree}
            self.tree += [p for p in psutil.Process(self.honcho.pid).children(recursive=True)
                          if p.pid not in seen]
        except psutil.Error:
            pass

    def stop_server(self):
        import psutil

        if self.honcho is None:
            return
        self.remember_tree()
        if self.honcho.poll() is None:
            try:
                os.killpg(self.honcho.pid, signal.SIGTERM)  # honcho stops its processes
            except ProcessLookupError:
                pass
            try:
                self.honcho.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for proc in [*self.tree]:
            try:
                if proc.is_running():
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # honcho starts each in a session
                    except (ProcessLookupError, PermissionError):
                        pass
                    proc.kill()
            except psutil.Error:
                pass
        try:
            os.killpg(self.honcho.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.honcho.wait(5)
        psutil.wait_procs(self.tree, timeout=5)
        self.honcho = None

    def stop_children(self):
        for child in self.children:
            if child.is_alive():
                child.terminate()
        for child in self.children:
            child.join(3)
            if child.is_alive():
                child.kill()
                child.join(2)
        self.children = []

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        # A second Ctrl-C must not leave processes, the database or the Redis db behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for step in (self.stop_children, self.stop_server, self.drop_database, self.flush_redis,
                     self.stop_own_redis):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - the other steps must still run
                print(f"cleanup: {step.__name__} failed: {exc!r}", file=sys.stderr)
        if self.log_path and not self.keep_log:
            Path(self.log_path).unlink(missing_ok=True)

    def drop_database(self):
        if not self.database:
            return
        from django.db import connections

        connections.close_all()
        drop_database(self.database)
        self.database = None

    def flush_redis(self):
        if self.redis_url and not self.own_redis:
            import redis

            redis.Redis.from_url(self.redis_url).flushdb()

    def stop_own_redis(self):
        if self.own_redis:
            self.own_redis.kill()
            shutil.rmtree(self.own_redis.workdir, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server on a free loopback port, no persistence: started again, it is empty."""

    def __init__(self):
        self.port = free_port()
        self.workdir = tempfile.mkdtemp(prefix="herald-sockets-redis-")
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/1"

    def start(self, wait: float = 10) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--maxclients", "10000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        stop_at = time.monotonic() + wait
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > stop_at:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def maintenance_connection():
    """An autocommit connection to the server's ``postgres`` database, to create and drop."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    params = {"dbname": "postgres", "user": db.get("USER"), "password": db.get("PASSWORD"),
              "host": db.get("HOST"), "port": db.get("PORT")}
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def drop_database(name: str) -> None:
    from psycopg import sql

    with maintenance_connection() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def check_environment(script: str, *, own_redis: bool = False):
    """The benchmark's database name and Redis URL, refused unless both are its own on loopback.

    ``own_redis``: the product will run on a Redis server of the benchmark's own, so REDIS_URL
    is not needed."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "") or ("redis://127.0.0.1:6379/1" if own_redis else "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit(f"bench/{script} needs DATABASE_URL (PostgreSQL) and REDIS_URL, e.g.\n"
                 f"  DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench_{script[:-3]} "
                 "REDIS_URL=redis://127.0.0.1:6379/10")
    db, rd = urlsplit(database_url), urlsplit(redis_url)
    if db.hostname not in LOOPBACK or rd.hostname not in LOOPBACK:
        sys.exit(f"bench/{script} runs on loopback only: PostgreSQL and Redis on 127.0.0.1.")
    name = db.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"database {name!r}: the benchmark drops its database, so its name must "
                 "contain 'bench'.")
    if rd.path.strip("/") in ("", "0"):
        sys.exit("REDIS_URL must name a Redis db of its own (not 0): the benchmark flushes it.")
    return name, redis_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(run: Run, web: int, port: int, deadline: Deadline, extra_env=None) -> None:
    """honcho with the Procfile on 127.0.0.1:``port`` with ``web`` web processes, its output in
    a log file; returns when ``/health/live`` answers and the worker says it is ready."""
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "WEB_PROCESSES": str(web),
           "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    fd, run.log_path = tempfile.mkstemp(prefix="herald-bench-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        run.honcho = subprocess.Popen(
            [str(ROOT / ".venv/bin/honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
    live = f"http://127.0.0.1:{port}/health/live"
    web_ready = worker_ready = False
    wait = deadline.left(120)
    stop_at = time.monotonic() + wait
    while time.monotonic() < stop_at:
        if run.honcho.poll() is not None:
            raise RuntimeError(f"honcho exited ({run.honcho.returncode}); see {run.log_path}")
        if not web_ready:
            try:
                with urllib.request.urlopen(live, timeout=2) as response:
                    web_ready = response.status == 200
            except OSError:
                pass
        if not worker_ready:
            worker_ready = " ready." in Path(run.log_path).read_text(errors="replace")
        if web_ready and worker_ready:
            run.remember_tree()
            return
        time.sleep(0.25)
    raise TimeoutError(f"server not ready after {wait:.0f} s (web={web_ready}, "
                       f"worker={worker_ready}); see {run.log_path}")


def listening_ports(proc) -> set[int]:
    import psutil

    return {c.laddr.port for c in proc.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr}


def web_processes(run: Run, port: int) -> list:
    """honcho's descendants running ``manage.py serve`` or daphne that listen on a TCP port.

    Those on the benchmark's port first; if none listens there (a proxy in front), those that
    listen anywhere. A supervisor holding the socket for its children serves nothing itself.
    """
    import psutil

    listeners = {}
    for proc in psutil.Process(run.honcho.pid).children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
            if ("manage.py" in cmdline and " serve" in cmdline) or "daphne" in cmdline:
                ports = listening_ports(proc)
                if ports:
                    listeners[proc] = ports
        except psutil.Error:
            continue
    candidates = [proc for proc, ports in listeners.items() if port in ports] or list(listeners)
    pids = {proc.pid for proc in candidates}
    leaves = []
    for proc in candidates:
        try:
            if not any(child.pid in pids for child in proc.children(recursive=True)):
                leaves.append(proc)
        except psutil.Error:
            continue
    return leaves or candidates


def drain_worker(deadline: Deadline, cap: float) -> float | None:
    """Wait until the broker's queues are empty and the worker runs no task; seconds or None.

    Stopping the worker in the middle of a push would log its own errors and hide the product's.
    """
    from kombu.exceptions import ChannelError

    from config.celery import app

    def waiting(channel, name) -> int:
        try:
            return channel.queue_declare(name, passive=True).message_count
        except ChannelError:  # never used, so nothing waits in it
            return 0

    began = time.monotonic()
    stop_at = began + deadline.left(cap)
    while time.monotonic() < stop_at:
        with app.connection_for_read() as conn:
            queued = sum(waiting(conn.default_channel, queue.name)
                         for queue in app.conf.task_queues)
        if not queued:
            active = app.control.inspect(timeout=1.0).active() or {}
            if not any(active.values()):
                return time.monotonic() - began
        time.sleep(0.5)
    return None


def server_errors(log_path: str, upto: int | None = None) -> tuple[int, list[str], int]:
    """Error lines, a few distinct ones (without honcho's prefix), and WARNING lines.

    ``upto``: only the log's first bytes (what was written before the server was stopped).
    """
    with open(log_path, "rb") as log:
        text = log.read(upto if upto is not None else -1).decode(errors="replace")
    lines = text.splitlines()
    matched = [line for line in lines if ERROR_LINE.search(line)]
    distinct = list(dict.fromkeys(re.sub(r"^\S+ \S+\s*\| ", "", line).strip()[:200]
                                  for line in matched))
    return len(matched), distinct[:8], sum(" WARNING " in line for line in lines)


def stop_when_idle(run: Run, deadline: Deadline, cap: float, after: str):
    """Let the worker finish (at most ``cap`` seconds, printed), stop the product, and return
    ``server_errors`` of what its log says while it ran (not while it stopped)."""
    drained = drain_worker(deadline, cap)
    print("worker: " + (f"still busy after {cap:g} s, stopped anyway" if drained is None
                        else f"idle {drained:.1f} s after {after}"))
    running_log = Path(run.log_path).stat().st_size
    run.stop_server()
    return server_errors(run.log_path, upto=running_log)


def server_arguments(parser) -> None:
    """The options every benchmark of the served product takes: web processes, deadline, log."""
    parser.add_argument("--web", type=int, default=0,
                        help="web processes (WEB_PROCESSES); 0 = one per core")
    parser.add_argument("--timeout", type=float, default=300, help="global deadline, seconds")
    parser.add_argument("--keep-log", action="store_true", help="keep the server log file")


def machine_line(extra: str = "") -> str:
    import platform

    return (f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}, Python "
            f"{platform.python_version()}{extra}")


def guarded(script: str, timeout: float, run: Run, body, on_failure=None) -> int:
    """Run ``body()`` within ``timeout`` seconds, then ``run.cleanup()`` whatever happened.

    SIGTERM and Ctrl-C (also when started in the background, where SIGINT is ignored) end the
    body and still clean up; a timer interrupts a step that hangs past the deadline, a second
    one kills what was started if the cleanup itself hangs. Returns the exit status: 0, 1 after
    a failure, 130 after an interruption (``on_failure()`` runs first); the server log is kept (and its path printed) unless
    the run succeeded.
    """

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    alarm = threading.Timer(timeout + 5, lambda: os.kill(os.getpid(), signal.SIGINT))
    alarm.daemon = True
    alarm.start()

    def last_resort():
        print(f"bench/{script}: cleanup did not finish, killing what it started", file=sys.stderr)
        run.stop_children()
        run.stop_server()
        os._exit(3)

    backstop = threading.Timer(timeout + 90, last_resort)
    backstop.daemon = True
    backstop.start()
    status = 0
    try:
        body()
    except KeyboardInterrupt as exc:
        print(f"interrupted ({str(exc) or 'Ctrl-C'}): cleaning up", file=sys.stderr)
        status = 130
    except Exception as exc:  # noqa: BLE001 - report what was measured, then clean up
        print(f"failed: {exc!r}", file=sys.stderr)
        status = 1
    finally:
        if status and on_failure is not None:
            on_failure()
        if status and run.log_path:
            run.keep_log = True
            print(f"server log kept: {run.log_path}", file=sys.stderr)
        elif run.keep_log and run.log_path:
            print(f"server log kept: {run.log_path}")
        alarm.cancel()
        run.cleanup()
        backstop.cancel()
    return status
