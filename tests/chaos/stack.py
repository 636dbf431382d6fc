"""Throwaway services and real Herald processes for the chaos suite.

Each test gets its own ``redis-server`` on a free port and its own PostgreSQL cluster (a copy of
a data directory migrated once per session, made with the installed ``initdb``/``pg_ctl``), and
starts web (``manage.py serve --web-only``), worker (``celery -A config worker``) and beat
(``celery -A config beat``) against them, as ``make run`` does in services mode. Nothing here
touches the machine's shared PostgreSQL or Redis.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, *, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return path


def postgres_dir(prefix: str) -> Path:
    """A fresh directory the server's user owns (pytest's own temp dirs are root's, mode 700)."""
    path = Path(tempfile.mkdtemp(prefix=f"herald-chaos-{prefix}-"))
    if AS_ROOT:
        shutil.chown(path, "postgres", "postgres")
    return path / "data"


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and the server refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if AS_ROOT else command


class RedisServer:
    """A redis-server on a free port with no persistence: a restart comes back empty."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        log = open(self.workdir / f"redis-{self.port}.log", "a")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        wait_until(lambda: answers(self.port), timeout=10, what="redis-server")

    def kill(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        wait_until(lambda: not answers(self.port), timeout=10, what="redis-server to stop")


_removals: list[subprocess.Popen] = []


def finish_removals() -> None:
    while _removals:
        _removals.pop().wait()


class PostgresCluster:
    """A PostgreSQL cluster in ``datadir`` on a free port, trust auth on 127.0.0.1."""

    def __init__(self, datadir: Path, port: int | None = None):
        self.datadir = datadir
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/herald"

    def init(self) -> None:
        self.datadir.mkdir(parents=True)
        if AS_ROOT:
            shutil.chown(self.datadir, "postgres", "postgres")
        subprocess.run(
            _as_postgres([postgres_bin("initdb"), "-D", str(self.datadir), "-U", "postgres",
                          "--auth=trust", "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True,
        )

    def copy(self) -> PostgresCluster:
        datadir = postgres_dir("pg")
        subprocess.run(["cp", "-a", str(self.datadir), str(datadir)], check=True)
        return PostgresCluster(datadir)

    def remove(self, *, wait: bool = True) -> None:
        if wait:
            shutil.rmtree(self.datadir.parent, ignore_errors=True)
        else:
            # Deleting a data directory takes seconds on a busy disk; the next test need not wait.
            _removals.append(subprocess.Popen(["rm", "-rf", str(self.datadir.parent)]))

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} "
                   "-c fsync=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(
            _as_postgres([postgres_bin("pg_ctl"), "-D", str(self.datadir), "-o", options,
                          "-l", str(self.datadir / "server.log"), "-w", "-t", "60", "start"]),
            check=True, capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres([postgres_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w",
                          "stop"]),
            check=False, capture_output=True,
        )

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def scalar(self, sql: str, params=()):
        return self.query(sql, params)[0][0]


TEMPLATE_CACHE_DAYS = 2


def _code_key() -> str:
    """What a migrated template depends on: the server's version and every source file of the
    product (migrations, and the apps' code that runs while migrating), plus this file."""
    digest = hashlib.sha256(postgres_bin("initdb").encode())
    skipped = {".venv", ".git", "tests", "bench", "docs", "static", "var", "staticfiles"}
    tops = [top for top in ROOT.iterdir() if top.is_dir() and top.name not in skipped]
    paths = [*ROOT.glob("*.py"), *(path for top in tops for path in top.rglob("*.py"))]
    for path in sorted({*paths, Path(__file__)}):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cached_template() -> PostgresCluster:
    """``build_template()``, kept between runs: migrating takes 20-40 s and the suite's time
    budget is tight. Each test copies it; nothing writes to it. Keyed by ``_code_key()``, so a
    change to the product or its migrations builds a new one; copies older than
    ``TEMPLATE_CACHE_DAYS`` are deleted."""
    cache = Path(tempfile.gettempdir())
    path = cache / f"herald-chaos-template-{_code_key()}"
    for old in cache.glob("herald-chaos-template-*"):
        if old != path and time.time() - old.stat().st_mtime > TEMPLATE_CACHE_DAYS * 86400:
            shutil.rmtree(old, ignore_errors=True)
    if not (path / "ready").exists():
        shutil.rmtree(path, ignore_errors=True)  # a build that was interrupted
        built = build_template()
        (built.datadir.parent / "ready").touch()
        try:
            built.datadir.parent.rename(path)  # atomic; a concurrent run may have got there first
        except OSError:
            built.remove()
    os.utime(path)
    return PostgresCluster(path / "data")


def build_template() -> PostgresCluster:
    """A cluster with the ``herald`` database migrated and the periodic jobs every 2 seconds."""
    cluster = PostgresCluster(postgres_dir("template"))
    cluster.init()
    cluster.start()
    try:
        with psycopg.connect(
            f"postgres://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE herald")
        env = base_env(database_url=cluster.url, redis_url="")
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        # Every-minute jobs (delivery sweep, relay, alerts...) run every 2 s here.
        cluster.query(
            "INSERT INTO django_celery_beat_intervalschedule (every, period) "
            "VALUES (2, 'seconds') RETURNING id"
        )
        cluster.query(
            "UPDATE django_celery_beat_periodictask SET interval_id = "
            "(SELECT id FROM django_celery_beat_intervalschedule WHERE every = 2 AND "
            "period = 'seconds') WHERE interval_id IS NOT NULL"
        )
        cluster.query("UPDATE django_celery_beat_periodictasks SET last_update = now()")
    finally:
        cluster.stop()
    return cluster


def base_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "chaos-suite-secret-key-not-for-production-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        # Short leases and timeouts so faults resolve within a test.
        "DELIVERY_CLAIM_SECONDS": "6",
        "EMAIL_TIMEOUT": "1",
        "WEBPUSH_TIMEOUT_SECONDS": "1",
        "SMS_API_TIMEOUT_SECONDS": "1",
        "MOBILE_PUSH_TIMEOUT_SECONDS": "1",
        "DELIVERY_RETRY_BASE_SECONDS": "1",
        "DELIVERY_RETRY_MAX_SECONDS": "2",
        "DELIVERY_ENQUEUE_GRACE_SECONDS": "3",
        "NOTIFICATIONS_RELAY_GRACE_SECONDS": "3",
        "TASK_MAX_DELIVERIES": "3",
        # One daphne process serving from the process that opened the socket: a supervisor and
        # a process per core would import Django three times per start. The Redis- and
        # web-restart cases run the production layout (WEB_PROCESSES=2).
        "WEB_PROCESSES": "1",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


class ForkedProcess:
    """A child of the stack's Django runner, waited on as a ``subprocess.Popen`` is."""

    def __init__(self, pid: int, poll_status):
        self.pid = pid
        self.returncode: int | None = None
        self._poll_status = poll_status

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._poll_status()["status"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode


class Stack:
    """One test's services and processes. ``env`` is what every process gets."""

    def __init__(
        self, workdir: Path, template: PostgresCluster, *, separate_broker: bool = False,
        **env: str,
    ):
        self.workdir = workdir
        self.redis = RedisServer(workdir)
        self.redis.start()
        # A broker of its own (CELERY_BROKER_URL), so it can fail while the cache stays up.
        self.broker = RedisServer(workdir) if separate_broker else None
        if self.broker:
            self.broker.start()
            env.setdefault("CELERY_BROKER_URL", self.broker.url())
        self.postgres = template.copy()
        # Metrics files of this stack's processes only, so a test can read its own counters.
        metrics_dir = workdir / f"metrics-{self.redis.port}"
        metrics_dir.mkdir()
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        self.env = base_env(database_url=self.postgres.url, redis_url=self.redis.url(), **env)
        self.processes: list[tuple[str, subprocess.Popen | ForkedProcess, Path]] = []
        self.web_port: int | None = None
        # Sets Django up while PostgreSQL starts; the test's code then runs in forks of it.
        self._runner_log = workdir / f"runner-{self.redis.port}.log"
        self._runner = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.runner"], cwd=ROOT, env=self.env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self._runner_log, "w"),
        )
        self._runner_lock = threading.Lock()
        self.postgres.start()

    # --- processes ---------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        log_path = self.workdir / f"{name}-{len(self.processes)}.log"
        process = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **env}, stdout=open(log_path, "w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.append((name, process, log_path))
        return process

    def start(self, *, web: bool = False, worker: bool = False, beat: bool = False):
        """Start the processes asked for side by side and wait until each is ready (starting
        them one after the other costs each one's import time in turn). Returns them in the
        order web, worker, beat."""
        started = []
        if web:
            started.append((self._spawn_web(), self._await_web))
        if worker:
            started.append((self._spawn_worker(), self._await_worker))
        if beat:
            started.append((self.start_beat(), None))
        for process, await_ready in started:
            if await_ready:
                await_ready(process)
        return [process for process, _ in started]

    def start_web(self, port: int | None = None) -> subprocess.Popen:
        process = self._spawn_web(port)
        self._await_web(process)
        return process

    def _spawn_web(self, port: int | None = None) -> subprocess.Popen:
        self.web_port = port or self.web_port or free_port()
        return self._spawn(
            "web",
            [sys.executable, "manage.py", "serve", "--web-only", "--host", "127.0.0.1",
             "--port", str(self.web_port)],
        )

    def _await_web(self, process: subprocess.Popen) -> None:
        wait_until(lambda: process.poll() is not None or answers(self.web_port), timeout=90,
                   what="web to listen")
        assert process.poll() is None, self.log_tail("web")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_worker(self, *extra: str, concurrency: int = 2, **env: str) -> subprocess.Popen:
        process = self._spawn_worker(*extra, concurrency=concurrency, **env)
        self._await_worker(process)
        return process

    def _spawn_worker(self, *extra: str, concurrency: int = 2, **env: str) -> subprocess.Popen:
        number = sum(1 for name, *_ in self.processes if name == "worker")
        return self._spawn(
            "worker",
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
             "--queues", "urgent,default,bulk", "--concurrency", str(concurrency),
             "--hostname", f"chaos{number}@%h", "--without-mingle", "--without-gossip",
             *extra],
            **env,
        )

    def _await_worker(self, process: subprocess.Popen) -> None:
        wait_until(lambda: process.poll() is not None or "ready." in self.log_of(process),
                   timeout=90, what="worker to be ready")
        assert process.poll() is None, self.log_of(process)[-3000:]

    def start_beat(self) -> subprocess.Popen:
        number = sum(1 for name, *_ in self.processes if name == "beat")
        return self._spawn(
            "beat",
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
             "--max-interval", "1", "--schedule", str(self.workdir / f"beat-{number}")],
        )

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process and everything it started (a worker's pool children)."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log_of(self, process: subprocess.Popen) -> str:
        for _, candidate, path in self.processes:
            if candidate is process:
                return path.read_text(errors="replace")
        return ""

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for process_name, _, path in self.processes
            if process_name == name
        )

    def log_tails(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}"
            for _, _, path in self.processes
        )

    def close(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                self.kill(process)
        self._runner.kill()  # holds no state; its children are gone above
        self._runner.wait()
        self.redis.kill()
        if self.broker:
            self.broker.kill()
        self.postgres.stop("immediate")
        self.postgres.remove(wait=False)

    # --- Django inside the stack -------------------------------------------------------------

    def _ask_runner(self, request: dict) -> dict:
        with self._runner_lock:
            try:
                self._runner.stdin.write(json.dumps(request) + "\n")
                self._runner.stdin.flush()
                line = self._runner.stdout.readline()
            except BrokenPipeError:
                line = ""
        assert line, "the Django runner died:\n" + self._runner_log.read_text()[-5000:]
        return json.loads(line)

    def django_background(self, name: str, code: str) -> ForkedProcess:
        """``code`` in a Django process running beside the test (its output in its log); it
        sets ``result`` (JSON-able), read with ``result_of``."""
        log_path = self.workdir / f"{name}-{len(self.processes)}.log"
        log_path.touch()  # read by the test before the child may have opened it
        pid = self._ask_runner(
            {"op": "fork", "code": textwrap.dedent(code), "log": str(log_path)}
        )["pid"]
        process = ForkedProcess(pid, lambda: self._ask_runner({"op": "poll", "pid": pid}))
        self.processes.append((name, process, log_path))
        return process

    def result_of(self, process: subprocess.Popen | ForkedProcess, timeout: float = 180):
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout} s:\n{self.log_of(process)[-5000:]}"
            ) from None
        log = self.log_of(process)
        assert process.returncode == 0, log[-5000:]
        line = [row for row in log.splitlines() if row.startswith("RESULT=")][-1]
        return json.loads(line[len("RESULT="):])

    def django(self, code: str):
        """Run ``code`` in a Django process of this stack; it sets ``result`` (JSON-able)."""
        return self.result_of(self.django_background("django", code), timeout=240)

    def users_with_sessions(self, count: int, *, prefix: str = "user") -> list[dict]:
        """``count`` users with a confirmed email address and a logged-in session each."""
        return self.users(**{prefix: count})[prefix]

    def users(self, **groups: int) -> dict[str, list[dict]]:
        """Users by username prefix (``users(fan=60, viewer=1)``), each with a confirmed email
        address and a logged-in session, made in one Django process."""
        return self.django(
            f"""
            from importlib import import_module
            from django.conf import settings
            from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
            from django.contrib.auth import get_user_model
            from notifications.models import ContactPoint
            User = get_user_model()
            store = import_module(settings.SESSION_ENGINE).SessionStore
            result = {{}}
            for prefix, count in {groups!r}.items():
                User.objects.bulk_create([
                    User(username=f"{{prefix}}{{n}}", email=f"{{prefix}}{{n}}@example.com",
                         password="!unusable")
                    for n in range(count)
                ])
                mine = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
                # Confirmed addresses: email goes only to addresses their owner confirmed.
                ContactPoint.objects.bulk_create(
                    [ContactPoint(user=user, email_verified=user.email) for user in mine]
                )
                result[prefix] = []
                for user in mine:
                    session = store()
                    session[SESSION_KEY] = str(user.pk)
                    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
                    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
                    session.create()
                    result[prefix].append({{
                        "id": user.pk, "email": user.email,
                        "cookie": f"{{settings.SESSION_COOKIE_NAME}}={{session.session_key}}",
                    }})
            """
        )
