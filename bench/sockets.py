"""Live delivery benchmark: real WebSocket clients on the real services-mode processes.

Against PostgreSQL and Redis, in a database and a Redis db of its own (both are wiped):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench_sockets \
    REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python bench/sockets.py --sockets 1000

1. Setup: ``ensure_database`` + ``migrate``, N users (one shared password hash) and N Django
   sessions written directly, so no login form is involved.
2. Starts the product as ``make run`` does in services mode: honcho with the Procfile (web
   processes, worker, beat) in a session of its own, ``WEB_PROCESSES=--web``, on a free loopback
   port; its output goes to a log file; ready when ``/health/live`` answers and the worker
   says it is ready.
3. Opens N WebSocket clients (the ``websockets`` library, one session cookie each, an allowed
   Origin) on ``/ws/notifications/`` from ``--clients`` processes at ``--ramp`` sockets/s in
   all: connect success and handshake p50/p99.
4. Idle: RSS and CPU over 5 s per web process, open sockets per process, KB per idle socket
   (web RSS after connecting minus before, over the connected sockets).
5. One ``notify()`` to all N users, committed here; the real worker does the push. Latency is
   commit (an ``on_commit`` callback registered first) to the frame's arrival at the client,
   same clock; lost = connected sockets without the frame after ``--deliver-timeout``;
   dup = frames beyond the first.
6. The floor: a bare ``websockets`` server in its own process relaying one Redis pub/sub message
   (padded to the size of the frame Herald sent) to the same number of sockets, opened the same
   way; latency from the publish.
``--redis-restart``: the product runs against a ``redis-server`` the benchmark starts on a free
loopback port (no persistence; REDIS_URL is not needed and the floor is skipped). Once the
sockets are open it kills that Redis server and starts it again empty, waits ``--settle``
seconds, then makes the one ``notify()``. The clients behave as the page does: a socket the
server closes with a "try again" code (1001, 1006, 1011-1013, 4503) reconnects with jittered
backoff and ``?last_id=`` of the newest notification it showed, so the server catches it up.
A page shows the notification when the frame carrying it arrives, live or in a catch-up after a
reconnect; lost = pages that never show it, dup = pages that show it more than once.
Errors are the server log's lines with Traceback / ERROR / Exception / Redis pool and timeout
messages. Bounded by ``--timeout``; every process it started is killed, the database dropped and
the Redis db flushed on the way out, also after Ctrl-C or a failure. The last line has a fixed
format for scripts.
"""

import argparse
import asyncio
import collections
import os
import re
import signal
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # debug, a per-run key

from served import (  # noqa: E402 - bench/served.py: the product started and stopped
    Deadline,
    Run,
    ThrowawayRedis,
    check_environment,
    die_with_parent,
    drop_database,
    free_port,
    guarded,
    listening_ports,
    machine_line,
    percentile,
    raise_nofile_limit,
    receive,
    server_arguments,
    server_errors,
    stop_when_idle,
    start_server,
    web_processes,
)

WS_PATH = "/ws/notifications/"
# Close codes after which the page's script reconnects and catches up (static/js/herald.js and
# htmx's ws extension): going away, abnormal, internal error, restart, try again later, and the
# product's "channel layer unavailable".
RECONNECT_CODES = {1001, 1006, 1011, 1012, 1013, 4503}
NOTIFICATION_ID = re.compile(rb'id="notification-(\d+)"')
ERROR_LINE = re.compile(r"Traceback|ERROR|Exception|Too many connections|Timeout reading")


# --- shared by every process ------------------------------------------------------------------


def somaxconn() -> int:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 1024


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because an accept queue was full."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for header, values in zip(lines[::2], lines[1::2]):
        if header.startswith("TcpExt:"):
            fields = dict(zip(header.split()[1:], values.split()[1:]))
            return int(fields.get("ListenOverflows", 0))
    return None


# --- client processes -------------------------------------------------------------------------


def client_process(conn, url: str, origin: str, cookies: list, rate: float, token: str,
                   open_timeout: float, reconnect: bool = False) -> None:
    """Open ``len(cookies)`` sockets at ``rate``/s, then answer the parent.

    Child → parent: ``("ready",)`` once imported. Parent → child: ``("start", at)`` (the
    ramp's first second, the same for every client), ``("wait", deadline)`` → the token
    frames' arrival times, ``("close",)``.
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent cleans up on Ctrl-C
    raise_nofile_limit()
    asyncio.run(_client_main(conn, url, origin, cookies, rate, token, open_timeout, reconnect))


async def _client_main(conn, url, origin, cookies, rate, token, open_timeout, reconnect):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    loop = asyncio.get_running_loop()
    conn.send(("ready",))
    command = await loop.run_in_executor(None, conn.recv)
    if command[0] != "start":
        return
    start_at = command[1]
    count = len(cookies)
    sockets = [None] * count
    handshake_ms = []
    failures = collections.Counter()
    first = [None] * count
    hits = [0] * count
    frames = [0] * count
    size = [0] * count
    close_codes = [None] * count
    done = asyncio.Event()
    pending = {"n": 0}  # open sockets still waiting for the token frame
    readers = set()  # the event loop keeps only weak references to tasks
    lag = {"max": 0.0}
    last_id = [0] * count  # the newest notification each page showed
    reconnects = [0] * count  # sockets opened again after the server closed one
    seen_after_reconnect = [False] * count  # the token came on a reopened socket
    closing = {"now": False}

    def finished(i):
        pending["n"] -= 1
        if pending["n"] <= 0:
            done.set()

    async def reopen(i, cookie):
        """As the page does after a "try again" close: backoff with jitter, then catch up."""
        import random

        delay = 0.5
        while not closing["now"]:
            await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                return await connect(
                    f"{url}?last_id={last_id[i]}", origin=origin,
                    additional_headers=[("Cookie", cookie)] if cookie else [],
                    open_timeout=open_timeout, ping_interval=None, close_timeout=2,
                    compression=None, max_size=None, user_agent_header=None,
                )
            except Exception:  # noqa: BLE001 - the server is still away or busy: retry
                delay = min(delay * 2, 8.0)
        return None

    async def read(i, ws, cookie):
        while True:
            try:
                async for message in ws:
                    now = time.time()
                    frames[i] += 1
                    raw = message.encode() if isinstance(message, str) else message
                    for found in NOTIFICATION_ID.findall(raw):
                        last_id[i] = max(last_id[i], int(found))
                    if token.encode() in raw:
                        hits[i] += 1
                        if first[i] is None:
                            first[i] = now
                            size[i] = len(raw)
                            seen_after_reconnect[i] = reconnects[i] > 0
                            finished(i)
            except ConnectionClosed:
                pass
            close_codes[i] = ws.close_code
            if not reconnect or closing["now"] or (ws.close_code or 1006) not in RECONNECT_CODES:
                break
            ws = await reopen(i, cookie)
            if ws is None:
                break
            reconnects[i] += 1
            sockets[i] = ws
            close_codes[i] = None
        if first[i] is None:
            finished(i)

    async def open_one(i, cookie):
        headers = [("Cookie", cookie)] if cookie else []
        began = time.perf_counter()
        try:
            ws = await connect(
                url, origin=origin, additional_headers=headers, open_timeout=open_timeout,
                ping_interval=None, close_timeout=2, compression=None, max_size=None,
                user_agent_header=None,
            )
        except InvalidStatus as exc:
            failures[f"HTTP {exc.response.status_code}"] += 1
            return
        except (asyncio.TimeoutError, TimeoutError):
            failures["timeout"] += 1
            return
        except Exception as exc:  # noqa: BLE001 - every failure is counted by its type
            cause = exc.__cause__
            failures[type(exc).__name__ + (f" ({type(cause).__name__})" if cause else "")] += 1
            return
        handshake_ms.append((time.perf_counter() - began) * 1000)
        sockets[i] = ws
        pending["n"] += 1
        reader = loop.create_task(read(i, ws, cookie))
        readers.add(reader)
        reader.add_done_callback(readers.discard)

    tasks = []
    for i, cookie in enumerate(cookies):
        delay = start_at + i / rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag["max"] = max(lag["max"], -delay)
        tasks.append(loop.create_task(open_one(i, cookie)))
    await asyncio.gather(*tasks)
    # A socket the server closed during the ramp counts as not connected.
    alive = [sockets[i] is not None and close_codes[i] is None for i in range(count)]
    conn.send(("connected", {
        "ok": sum(alive),
        "opened": sum(ws is not None for ws in sockets),
        "failures": dict(failures),
        "handshake_ms": handshake_ms,
        "ramp_lag_s": lag["max"],
        "early_closes": dict(collections.Counter(
            code for i, code in enumerate(close_codes)
            if sockets[i] is not None and code is not None
        )),
    }))
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "wait":
            # Set during the ramp if every socket open then had closed; sockets opened later
            # are waiting now.
            done.clear()
            if pending["n"] > 0:
                try:
                    await asyncio.wait_for(done.wait(), max(0.0, command[1] - time.time()))
                except (asyncio.TimeoutError, TimeoutError):
                    pass
            conn.send(("frames", [
                {"first": first[i], "hits": hits[i], "frames": frames[i], "size": size[i],
                 "close": close_codes[i], "reconnects": reconnects[i],
                 "after_reconnect": seen_after_reconnect[i]}
                for i in range(count) if alive[i]
            ]))
        elif command[0] == "close":
            closing["now"] = True
            open_sockets = [ws for ws in sockets if ws is not None]
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(ws.close() for ws in open_sockets), return_exceptions=True),
                    10,
                )
            except (asyncio.TimeoutError, TimeoutError):
                pass
            conn.send(("closed",))
            return


# --- the floor server -------------------------------------------------------------------------


def floor_process(conn, redis_url: str, channel: str) -> None:
    """A bare websockets server relaying every message of a Redis pub/sub channel to all."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_nofile_limit()
    asyncio.run(_floor_main(conn, redis_url, channel))


async def _floor_main(conn, redis_url, channel):
    import logging

    import redis.asyncio as aioredis
    from websockets.asyncio.server import broadcast, serve

    async def handler(ws):
        await ws.wait_closed()

    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    # A handshake the client gave up on is counted by the client, not logged here.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    # The kernel's accept queue as deep as it allows (asyncio's default is 100): a 500/s ramp
    # on a busy machine overflows a shallow one and every overflow costs the client a SYN retry.
    async with serve(handler, "127.0.0.1", 0, max_size=None, backlog=somaxconn()) as server:
        conn.send(("ready", server.sockets[0].getsockname()[1]))
        async for message in pubsub.listen():
            if message["type"] == "message":
                broadcast(server.connections, message["data"].decode())


# --- the bench process ------------------------------------------------------------------------


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000, help="WebSocket clients (and users)")
    parser.add_argument("--ramp", type=float, default=500, help="sockets opened per second")
    parser.add_argument("--clients", type=int, default=0,
                        help="client processes; default max(1, sockets // 2500)")
    parser.add_argument("--deliver-timeout", type=float, default=30,
                        help="seconds to wait for the frame on every socket")
    parser.add_argument("--open-timeout", type=float, default=10,
                        help="seconds a client waits for its handshake")
    parser.add_argument("--priority", default=None,
                        help="notification priority (default: the kind's, normal)")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-server floor")
    parser.add_argument("--debug", action="store_true", help="serve with DEBUG on (make run's)")
    server_arguments(parser)
    parser.add_argument("--redis-restart", action="store_true",
                        help="run on a redis-server of its own, kill it and start it empty while "
                        "the sockets are open, then notify; pages reconnect and catch up")
    parser.add_argument("--settle", type=float, default=5,
                        help="--redis-restart: seconds between Redis answering again and notify()")
    args = parser.parse_args()
    if args.redis_restart:
        args.no_floor = True
    args.web = args.web or os.cpu_count() or 1
    args.clients = args.clients or max(1, args.sockets // 2500)
    args.clients = max(1, min(args.clients, args.sockets))
    return args


def setup_database(count: int):
    """Users and their sessions, written directly; returns the session cookies."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    password = make_password("bench-sockets")
    user_model.objects.bulk_create(
        [user_model(username=f"sock-{n}", email="", password=password) for n in range(count)],
        batch_size=5000,
    )
    users = list(user_model.objects.filter(username__startswith="sock-").order_by("pk"))
    backend = settings.AUTHENTICATION_BACKENDS[-1]  # the model backend; the first only throttles
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    sessions = []
    for user in users:
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: backend,
                HASH_SESSION_KEY: user.get_session_auth_hash()}
        sessions.append(Session(session_key=get_random_string(32), expire_date=expires,
                                session_data=store.encode(data)))
    Session.objects.bulk_create(sessions, batch_size=5000)
    cookie = settings.SESSION_COOKIE_NAME
    return [f"{cookie}={session.session_key}" for session in sessions]


def socket_counts(procs: list) -> dict[int, int]:
    """Established connections per process on the ports it listens on."""
    import psutil

    counts = {}
    for proc in procs:
        try:
            ports = listening_ports(proc)
            counts[proc.pid] = sum(
                1 for c in proc.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port in ports
            )
        except psutil.Error:
            counts[proc.pid] = 0
    return counts


def rss_mb(procs: list) -> dict[int, float]:
    import psutil

    out = {}
    for proc in procs:
        try:
            out[proc.pid] = proc.memory_info().rss / 2**20
        except psutil.Error:
            out[proc.pid] = float("nan")
    return out


def cpu_percent(procs: list, seconds: float) -> dict[int, float]:
    import psutil

    for proc in procs:
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(seconds)
    out = {}
    for proc in procs:
        try:
            out[proc.pid] = proc.cpu_percent(None)
        except psutil.Error:
            out[proc.pid] = float("nan")
    return out


def cpu_seconds(procs: list) -> float:
    """User + system CPU the processes have used so far."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def other_processes(run: Run, web: list) -> list:
    """honcho and its descendants other than the web processes (worker, its pool, beat)."""
    import psutil

    pids = {proc.pid for proc in web}
    try:
        root = psutil.Process(run.honcho.pid)
        return [root] + [p for p in root.children(recursive=True) if p.pid not in pids]
    except psutil.Error:
        return []


def open_clients(run: Run, ctx, args, url: str, origin: str, cookies: list, token: str,
                 deadline: Deadline, label: str):
    """Start the client processes and wait for their ramp; returns (pipes, summary)."""
    share = [cookies[i :: args.clients] for i in range(args.clients)]
    ramp_s = len(cookies) / args.ramp
    open_timeout = args.open_timeout
    pipes = []
    for part in share:
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=client_process,
            args=(child_end, url, origin, part, args.ramp / args.clients, token, open_timeout,
                  args.redis_restart),
            daemon=True,
        )
        proc.start()
        run.children.append(proc)
        pipes.append(parent_end)
    # Spawning and importing take seconds on a busy machine: the ramp starts once all are ready,
    # or a late client would open its share in a burst to catch up.
    limit = time.monotonic() + deadline.left(30 + args.clients)
    for pipe in pipes:
        receive(pipe, "ready", limit)
    overflows_before = listen_overflows()
    start_at = time.time() + 0.2
    for pipe in pipes:
        try:
            pipe.send(("start", start_at))
        except OSError:
            pass
    limit = time.monotonic() + deadline.left(ramp_s + open_timeout + 15)
    reports = [receive(pipe, "connected", limit) for pipe in pipes]
    handshakes = [ms for report in reports if report for ms in report["handshake_ms"]]
    failures = collections.Counter()
    early = collections.Counter()
    for report in reports:
        if report:
            failures.update(report["failures"])
            early.update(report["early_closes"])
    connected = sum(report["ok"] for report in reports if report)
    silent = sum(len(part) for part, report in zip(share, reports) if report is None)
    if silent:
        failures["client process gave no report"] += silent
    lag = max((report["ramp_lag_s"] for report in reports if report), default=0.0)
    print(f"{label}: {connected}/{len(cookies)} connected at {args.ramp:g}/s from "
          f"{args.clients} client process(es); handshake p50 {percentile(handshakes, 50):.1f} ms, "
          f"p99 {percentile(handshakes, 99):.1f} ms, "
          f"max {max(handshakes, default=float('nan')):.1f} ms; "
          f"clients' worst lag behind the ramp {lag:.2f} s")
    overflows = listen_overflows()
    if overflows is not None and overflows_before is not None:
        print(f"{label}: accept-queue overflows during the ramp (whole machine): "
              f"{overflows - overflows_before}")
    if failures:
        print(f"{label}: failed handshakes: {dict(failures)}")
    if early:
        print(f"{label}: closed by the server during the ramp (close codes): {dict(early)}")
    return pipes, {"connected": connected, "handshake_ms": handshakes}


def collect_frames(pipes, sent_at: float, deadline: Deadline, wait_s: float):
    stop_ts = time.time() + deadline.left(wait_s)
    for pipe in pipes:
        try:
            pipe.send(("wait", stop_ts))
        except OSError:
            pass
    limit = time.monotonic() + max(0.0, stop_ts - time.time()) + 10
    results = []
    for pipe in pipes:
        results.extend(receive(pipe, "frames", limit) or [])
    latencies = [(r["first"] - sent_at) * 1000 for r in results if r["first"] is not None]
    lost = sum(1 for r in results if r["first"] is None)
    dup = sum(max(0, r["hits"] - 1) for r in results)
    closes = collections.Counter(r["close"] for r in results if r["close"] is not None)
    sizes = [r["size"] for r in results if r["size"]]
    return {"latencies": latencies, "lost": lost, "dup": dup, "closes": closes,
            "size": int(percentile(sizes, 50)) if sizes else 0, "received": len(latencies),
            "after_reconnect": sum(1 for r in results if r.get("after_reconnect")),
            "reconnected": sum(1 for r in results if r.get("reconnects")),
            "reconnects": sum(r.get("reconnects", 0) for r in results)}


def close_clients(run: Run, pipes, deadline: Deadline) -> None:
    for pipe in pipes:
        try:
            pipe.send(("close",))
        except OSError:
            pass
    limit = time.monotonic() + deadline.left(15)
    for pipe in pipes:
        receive(pipe, "closed", limit)
    run.stop_children()


def print_delivery(label: str, result: dict) -> None:
    lat = result["latencies"]
    print(f"{label}: {result['received']} received, lost {result['lost']}, dup {result['dup']}; "
          f"latency p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms, "
          f"max {max(lat, default=float('nan')):.0f} ms; frame {result['size']} bytes")
    if result["closes"]:
        print(f"{label}: sockets closed by the server (close codes): {dict(result['closes'])}")


def herald_phase(run: Run, ctx, args, deadline: Deadline, token: str, summary: dict) -> None:
    import psutil
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from config.celery import app
    from notifications.kinds import EVENT_UPDATED
    from notifications.services import notify

    # The after-commit tasks go to the Redis broker; the worker honcho started runs them.
    app.conf.task_always_eager = False

    began = time.perf_counter()
    cookies = setup_database(args.sockets)
    print(f"setup: {args.sockets} users and sessions in {time.perf_counter() - began:.1f} s")
    deadline.check("setup")

    port = free_port()
    began = time.perf_counter()
    # DEBUG off as in production (the suite's settings turn it on): Django's debug cursor,
    # template debugging and Celery's debug warnings are not what a deploy pays for.
    start_server(run, args.web, port, deadline,
                 extra_env={"DEBUG": "true" if args.debug else "false"})
    procs = web_processes(run, port)
    summary["web"] = len(procs)
    print(f"server: honcho -f Procfile on 127.0.0.1:{port}, WEB_PROCESSES={args.web}, "
          f"DEBUG={'on' if args.debug else 'off'}, ready in "
          f"{time.perf_counter() - began:.1f} s; web processes found: {len(procs)} "
          f"(pids {', '.join(str(p.pid) for p in procs) or 'none'}); log {run.log_path}")
    time.sleep(2)
    rss_before = rss_mb(procs)
    print("web RSS before connecting: "
          + ", ".join(f"pid {pid} {mb:.1f} MB" for pid, mb in rss_before.items()))

    cpu_before = cpu_seconds(procs)
    pipes, opened = open_clients(
        run, ctx, args, f"ws://127.0.0.1:{port}{WS_PATH}", f"http://127.0.0.1:{port}", cookies,
        token, deadline, "herald connect",
    )
    summary["connected"] = opened["connected"]
    # CPU time, unlike wall time, hardly depends on what else the machine runs: the web
    # processes' cost of a handshake, comparable between runs on a busy machine.
    ramp_cpu = cpu_seconds(procs) - cpu_before
    print(f"herald connect: web processes used {ramp_cpu:.1f} s of CPU during the ramp, "
          f"{ramp_cpu * 1000 / max(1, opened['connected']):.2f} ms per connected socket "
          f"({ramp_cpu * 1000 / args.sockets:.2f} ms per attempt)")
    run.remember_tree()
    time.sleep(min(3.0, deadline.left()))
    cpu = cpu_percent(procs, min(5.0, deadline.left()))
    rss_after = rss_mb(procs)
    counts = socket_counts(procs)
    for proc in procs:
        print(f"web pid {proc.pid}: {counts[proc.pid]} sockets, RSS {rss_after[proc.pid]:.1f} MB "
              f"(+{rss_after[proc.pid] - rss_before[proc.pid]:.1f}), idle CPU "
              f"{cpu[proc.pid]:.1f} %")
    grown_kb = (sum(rss_after.values()) - sum(rss_before.values())) * 1024
    if opened["connected"]:
        summary["kb_per_socket"] = grown_kb / opened["connected"]
    print(f"KB per idle socket: {summary['kb_per_socket']:.1f} "
          f"({grown_kb / 1024:.1f} MB over {opened['connected']} sockets)")
    deadline.check("idle measurement")

    if args.redis_restart:
        restart_redis(run, args, deadline, summary)

    users = get_user_model().objects.filter(username__startswith="sock-")
    others = other_processes(run, procs)
    delivery_cpu = (cpu_seconds(procs), cpu_seconds(others))
    marks = {}
    with transaction.atomic():
        # Registered first, so it runs first after commit: the commit's timestamp.
        transaction.on_commit(lambda: marks.setdefault("committed", time.time()))
        result = notify(
            kind=EVENT_UPDATED, recipients=users, priority=args.priority,
            context={"event_title": f"Bench {token}", "changes": ["starts_at"]},
            url="/events/",
        )
    print(f"notify: {result.created} notifications committed "
          f"({(time.time() - marks['committed']) * 1000:.0f} ms of after-commit work here)")
    delivered = collect_frames(pipes, marks["committed"], deadline, args.deliver_timeout)
    print_delivery("herald delivery", delivered)
    # Up to the end of the frames' collection (the deliver timeout when a frame is lost): with
    # the sockets idle, what the push cost in CPU whatever else runs on the machine.
    web_cpu = cpu_seconds(procs) - delivery_cpu[0]
    print(f"herald delivery: CPU {web_cpu * 1000:.0f} ms in the web processes "
          f"({web_cpu * 1e6 / max(1, delivered['received']):.0f} us per frame), "
          f"{(cpu_seconds(others) - delivery_cpu[1]) * 1000:.0f} ms in the worker, beat and "
          "honcho")
    if args.redis_restart:
        live = delivered["received"] - delivered["after_reconnect"]
        print(f"redis restart: {delivered['received']} of {summary['connected']} pages show the "
              f"notification: {live} in a frame on the socket they had when it was sent, "
              f"{delivered['after_reconnect']} on a socket reopened after a close (catch-up); "
              f"{delivered['reconnected']} pages reconnected ({delivered['reconnects']} reopens); "
              f"lost {delivered['lost']}, dup {delivered['dup']}")
        summary["after_reconnect"] = delivered["after_reconnect"]
    summary.update(lost=delivered["lost"], dup=delivered["dup"], size=delivered["size"],
                   received=delivered["received"],
                   p50=percentile(delivered["latencies"], 50),
                   p99=percentile(delivered["latencies"], 99))
    try:
        proc_count = len(psutil.Process(run.honcho.pid).children(recursive=True))
    except psutil.Error:
        proc_count = 0
    close_clients(run, pipes, deadline)
    errors, samples, warnings = stop_when_idle(run, deadline, 60, "the frames were collected")
    summary["errors"] = errors
    print(f"server log: {errors} error lines, {warnings} warnings while running "
          f"({proc_count} processes under honcho); "
          f"{server_errors(run.log_path)[0] - errors} error lines while stopping")
    for line in samples:
        print(f"  {line}")


def restart_redis(run: Run, args, deadline: Deadline, summary: dict) -> None:
    """Kill the product's Redis server and start it again empty, sockets open."""
    import redis

    began = time.monotonic()
    run.own_redis.kill()
    print(f"redis restart: redis-server on port {run.own_redis.port} killed (SIGKILL) with "
          f"{summary['connected']} sockets open")
    time.sleep(1)  # down long enough for every process to notice
    run.own_redis.start()
    print(f"redis restart: started again empty after {time.monotonic() - began:.1f} s "
          f"({redis.Redis.from_url(run.own_redis.url).dbsize()} keys); "
          f"waiting {args.settle:g} s before notify()")
    time.sleep(min(args.settle, deadline.left()))
    deadline.check("the Redis restart")


def floor_phase(run: Run, ctx, args, deadline: Deadline, token: str, summary: dict) -> None:
    import psutil
    import redis

    channel = f"bench-sockets-floor-{token}"
    parent_end, child_end = ctx.Pipe()
    server = ctx.Process(target=floor_process, args=(child_end, run.redis_url, channel),
                         daemon=True)
    server.start()
    run.children.append(server)
    ready = receive(parent_end, "ready", time.monotonic() + deadline.left(30))
    if not ready:
        raise RuntimeError("the floor server did not start")
    port = ready
    proc = psutil.Process(server.pid)
    time.sleep(1)
    rss_before = proc.memory_info().rss / 2**20
    cookies = [None] * args.sockets
    pipes, opened = open_clients(run, ctx, args, f"ws://127.0.0.1:{port}/",
                                 f"http://127.0.0.1:{port}", cookies, token, deadline,
                                 "floor connect")
    time.sleep(min(2.0, deadline.left()))
    grown_kb = (proc.memory_info().rss / 2**20 - rss_before) * 1024
    if opened["connected"]:
        print(f"floor: RSS {proc.memory_info().rss / 2**20:.1f} MB, "
              f"{grown_kb / opened['connected']:.1f} KB per idle socket")
    size = summary.get("size") or 500
    client = redis.Redis.from_url(run.redis_url)
    client.ping()  # connected before the clock starts
    sent_at = time.time()
    client.publish(channel, f"{token} {sent_at:.6f} ".ljust(size, "x"))
    delivered = collect_frames(pipes, sent_at, deadline, args.deliver_timeout)
    print_delivery("floor delivery", delivered)
    summary["floor_p99"] = percentile(delivered["latencies"], 99)
    summary["floor_received"] = delivered["received"]
    close_clients(run, pipes, deadline)
    summary["floor_connected"] = opened["connected"]


def main():
    args = parse_args()
    database, redis_url = check_environment("sockets.py", own_redis=args.redis_restart)
    hard = raise_nofile_limit()
    deadline = Deadline(args.timeout)
    run = Run()
    run.keep_log = args.keep_log
    if args.redis_restart:
        # The product (this process's settings and honcho's processes) uses a Redis server of
        # the benchmark's own, which it may kill.
        run.own_redis = ThrowawayRedis()
        run.own_redis.start()
        redis_url = os.environ["REDIS_URL"] = run.own_redis.url
        for name in ("CELERY_BROKER_URL", "CHANNEL_LAYER_REDIS_URLS"):
            os.environ.pop(name, None)
    run.redis_url = redis_url
    summary = {"web": 0, "connected": 0, "lost": 0, "dup": 0, "after_reconnect": 0,
               "p50": float("nan"),
               "p99": float("nan"), "kb_per_socket": float("nan"), "floor_p99": float("nan"),
               "errors": 0}

    import multiprocessing

    import django

    ctx = multiprocessing.get_context("spawn")  # no inherited database or Redis connections
    django.setup()
    import psutil  # noqa: F401 - fail before starting anything when it is missing
    from django.conf import settings

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(machine_line(f", open files limit {hard}"))
    print(f"layer: {settings.CHANNEL_LAYERS['default']['BACKEND']}; database {database}, "
          f"redis {redis_url}")
    token = uuid.uuid4().hex

    def measure():
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        drop_database(database)  # a leftover of a run that was killed hard
        run.database = database
        herald_phase(run, ctx, args, deadline, token, summary)
        if not args.no_floor:
            deadline.check("the floor")
            floor_phase(run, ctx, args, deadline, token, summary)

    def count_errors():
        if run.log_path and run.honcho is not None:
            try:
                summary["errors"] = server_errors(run.log_path)[0]
            except OSError:
                pass

    status = guarded("sockets.py", args.timeout, run, measure, on_failure=count_errors)
    floor = summary["floor_p99"]
    if summary["p99"] == summary["p99"] and floor == floor and floor > 0:
        print(f"herald p99 / floor p99: {summary['p99'] / floor:.1f}x (frames on "
              f"{summary['received']} and {summary['floor_received']} sockets)")
    print(
        f"sockets n={args.sockets} web={summary['web']} connected={summary['connected']} "
        f"lost={summary['lost']} dup={summary['dup']} p50_ms={summary['p50']:.0f} "
        f"p99_ms={summary['p99']:.0f} kb_per_socket={summary['kb_per_socket']:.1f} "
        f"floor_p99_ms={floor:.0f} errors={summary['errors']}"
        + (f" redis_restart=1 after_reconnect={summary['after_reconnect']}"
           if args.redis_restart else "")
    )
    sys.exit(status)


if __name__ == "__main__":
    main()
