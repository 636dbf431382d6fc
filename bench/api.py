"""HTTP API benchmark: API clients on loopback against the real services-mode processes.

Against PostgreSQL and Redis, in a database and a Redis db of its own (both are wiped):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench_api \
    REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/api.py

1. Setup: ``ensure_database`` + ``migrate``, ``--users`` users (no email address: in-app only)
   and one API key for every public kind.
2. Starts the product as ``make run`` does in services mode (``bench/served.py``: honcho with the
   Procfile, web processes, worker and beat, on a free loopback port), with ``DEBUG`` off as in
   production (``--debug`` serves it as ``make run`` does) and the per-key rate limit raised
   out of the way (``API_RATE_LIMIT_PER_MINUTE``).
3. Trivial: ``GET /health/live`` (a view that answers JSON and touches nothing) from the same
   clients for up to 10 s: what the server, Django and the middleware cost on their own.
   Single: ``POST /api/v1/notifications`` (one recipient, its own ``Idempotency-Key`` each) from
   ``--clients`` processes, each an aiohttp session with ``--concurrency`` requests in flight
   over kept-alive connections, for ``--duration`` seconds or ``--requests`` requests, after a
   short warm-up that is not counted: requests/s answered 201, latency p50/p99, other answers.
4. Bulk: ``POST /api/v1/notifications/bulk`` with ``--bulk-size`` notifications (one recipient
   each) per request, ``--bulk-requests`` requests, ``--bulk-concurrency`` in flight:
   notifications created per second.
5. Checks that the database holds every notification the answers reported, waits for the worker
   to finish the pushes, and counts the server log's error lines.

Bounded by ``--timeout``; every process it started is killed, the database dropped and the Redis
db flushed on the way out, also after Ctrl-C or a failure. The last line has a fixed format:
``api rps=<n> p99_ms=<x> bulk_per_s=<n>``.
"""

import argparse
import asyncio
import collections
import os
import signal
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # a per-run key

from served import (  # noqa: E402 - bench/served.py: the product started and stopped
    Deadline,
    Run,
    check_environment,
    die_with_parent,
    drop_database,
    free_port,
    guarded,
    machine_line,
    percentile,
    receive,
    server_arguments,
    stop_when_idle,
    start_server,
    web_processes,
)

SINGLE_KIND = "event_updated"
TRIVIAL_PATH = "/health/live"
BULK_KIND = "game_scored"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000, help="recipients, taken in turn")
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="requests in flight per client process")
    parser.add_argument("--duration", type=float, default=15, help="seconds of single requests")
    parser.add_argument("--requests", type=int, default=20000,
                        help="at most this many single requests")
    parser.add_argument("--warmup", type=int, default=200, help="single requests not counted")
    parser.add_argument("--bulk-size", type=int, default=1000, help="notifications per request")
    parser.add_argument("--bulk-requests", type=int, default=20)
    parser.add_argument("--bulk-concurrency", type=int, default=2)
    parser.add_argument("--debug", action="store_true", help="serve with DEBUG on (make run's)")
    server_arguments(parser)
    args = parser.parse_args()
    args.web = args.web or os.cpu_count() or 1
    return args


# --- client processes -------------------------------------------------------------------------


def client_process(conn, base_url: str, api_key: str) -> None:
    """Sends the requests the parent asks for, and answers with what it measured.

    Parent → child: ``("run", jobs, concurrency, stop_at)``, jobs being (path, body) pairs
    sent in order with a fresh Idempotency-Key each, until they run out or ``time.time()``
    passes ``stop_at``; child → parent: ``("ready",)``, then ``("done", report)`` per run.
    """
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent cleans up on Ctrl-C
    asyncio.run(_client_main(conn, base_url, api_key))


async def _client_main(conn, base_url, api_key):
    import aiohttp

    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    headers = {"X-Api-Key": api_key, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers) as session:
        conn.send(("ready",))
        while True:
            message = await loop.run_in_executor(None, conn.recv)
            if message[0] != "run":
                return
            _, jobs, concurrency, stop_at = message
            conn.send(("done", await _run_jobs(session, jobs, concurrency, stop_at)))


async def _run_jobs(session, jobs, concurrency, stop_at):
    import json

    latencies, statuses, created, errors = [], collections.Counter(), 0, collections.Counter()
    queue = collections.deque(jobs)
    began = time.time()

    async def worker():
        nonlocal created
        while queue and time.time() < stop_at:
            path, body = queue.popleft()
            # No body: a GET (the trivial view), else a POST with a fresh Idempotency-Key.
            method, data = ("GET", None) if body is None else ("POST", json.dumps(body))
            headers = {} if body is None else {"Idempotency-Key": uuid.uuid4().hex}
            sent = time.perf_counter()
            try:
                async with session.request(method, path, data=data, headers=headers) as r:
                    answer = await r.read()
                    latencies.append((time.perf_counter() - sent) * 1000)
                    statuses[r.status] += 1
                    if r.status == 201:
                        created += _created(json.loads(answer))
                    elif r.status != 200 and len(errors) < 5:  # 200: the trivial view's
                        errors[answer[:200].decode(errors="replace")] += 1
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                statuses[type(exc).__name__] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"began": began, "ended": time.time(), "latencies": latencies,
            "statuses": dict(statuses), "created": created, "errors": dict(errors)}


def _created(answer: dict) -> int:
    if "results" in answer:  # the bulk endpoint: one result per notification
        return sum(result["created"] for result in answer["results"])
    return answer["created"]


# --- the bench process ------------------------------------------------------------------------


def setup_database(count: int) -> tuple[list[int], str]:
    """Users without an email address (in-app only) and an API key; (user ids, raw key)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from notifications.api.services import api_key_create

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    user_model.objects.bulk_create(
        [user_model(username=f"api-{n}", email="", password="!") for n in range(count)],
        batch_size=5000,
    )
    user_ids = list(user_model.objects.filter(username__startswith="api-")
                    .order_by("pk").values_list("pk", flat=True))
    _, raw_key = api_key_create(name="bench-api")
    return user_ids, raw_key


def single_jobs(user_ids: list[int], count: int, start: int, tag: str) -> list:
    return [
        ("/api/v1/notifications", {
            "kind": SINGLE_KIND, "recipients": [user_ids[(start + n) % len(user_ids)]],
            "context": {"event_title": f"Bench {tag} {n}", "changes": ["starts_at"]},
            "url": "/events/",
        })
        for n in range(count)
    ]


def bulk_jobs(user_ids: list[int], requests: int, size: int) -> list:
    jobs = []
    for r in range(requests):
        jobs.append(("/api/v1/notifications/bulk", {"notifications": [
            {"kind": BULK_KIND, "recipients": [user_ids[(r * size + n) % len(user_ids)]],
             "context": {"game_title": f"Bench game {r}-{n}", "score": n}}
            for n in range(size)
        ]}))
    return jobs


def run_phase(pipes, jobs: list, concurrency: int, seconds: float, deadline: Deadline) -> dict:
    """Split ``jobs`` over the client processes, run them at once, merge the reports."""
    stop_at = time.time() + deadline.left(seconds)
    for i, pipe in enumerate(pipes):
        pipe.send(("run", jobs[i :: len(pipes)], concurrency, stop_at))
    limit = time.monotonic() + deadline.left(seconds + 60)
    reports = [receive(pipe, "done", limit) for pipe in pipes]
    if not all(reports):
        raise RuntimeError("a client process gave no report")
    statuses, errors = collections.Counter(), collections.Counter()
    for report in reports:
        statuses.update(report["statuses"])
        errors.update(report["errors"])
    latencies = [ms for report in reports for ms in report["latencies"]]
    wall = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    return {"wall": wall, "latencies": latencies, "statuses": dict(statuses),
            "ok": statuses.get(201, 0), "created": sum(r["created"] for r in reports),
            "errors": dict(errors)}


def web_cpu(procs) -> dict:
    """CPU seconds (user + system) so far of each web process still running, by pid."""
    import psutil

    seconds = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            seconds[proc.pid] = times.user + times.system
        except psutil.Error:
            pass
    return seconds


def machine_busy() -> float:
    """Core-seconds the whole machine has spent busy so far (every process: the server, the
    worker, PostgreSQL, Redis and these clients)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def print_machine(busy_before: float, wall: float, count: int, unit: str) -> None:
    """How busy the cores were during a phase and the core time each ``unit`` cost: at that cost,
    the machine's cores can do no more than cores / cost per second."""
    busy = machine_busy() - busy_before
    cores = os.cpu_count() or 1
    per_unit = busy / max(1, count)
    print(f"  machine: {busy / wall / cores * 100 if wall else 0:.0f} % of {cores} cores busy, "
          f"{per_unit * 1e3:.2f} ms of core time per {unit}: at most "
          f"{cores / per_unit if per_unit else 0:.0f} {unit}s/s at that cost")


def print_phase(label: str, result: dict) -> None:
    lat = result["latencies"]
    print(f"{label}: {sum(result['statuses'].values())} requests in {result['wall']:.2f} s, "
          f"answers {result['statuses']}; latency p50 {percentile(lat, 50):.1f} ms, "
          f"p99 {percentile(lat, 99):.1f} ms, max {max(lat, default=float('nan')):.1f} ms; "
          f"{result['created']} notifications created")
    for text, count in result["errors"].items():
        print(f"  {count}x {text}")


def measure(run: Run, ctx, args, deadline: Deadline, summary: dict) -> None:
    from django.db import connections

    from notifications.models import Notification

    began = time.perf_counter()
    user_ids, raw_key = setup_database(args.users)
    connections.close_all()
    print(f"setup: {len(user_ids)} users and an API key in {time.perf_counter() - began:.1f} s")
    deadline.check("setup")

    port = free_port()
    began = time.perf_counter()
    start_server(run, args.web, port, deadline, extra_env={
        "DEBUG": "true" if args.debug else "false",
        # One key sends everything here; the limit itself is one Redis script call per request.
        "API_RATE_LIMIT_PER_MINUTE": str(10**9),
    })
    procs = web_processes(run, port)
    summary["web"] = len(procs)
    print(f"server: honcho -f Procfile on 127.0.0.1:{port}, WEB_PROCESSES={args.web}, "
          f"DEBUG={'on' if args.debug else 'off'}, ready in {time.perf_counter() - began:.1f} s; "
          f"web processes found: {len(procs)}; log {run.log_path}")

    pipes = []
    for _ in range(args.clients):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=client_process,
                           args=(child_end, f"http://127.0.0.1:{port}", raw_key), daemon=True)
        proc.start()
        run.children.append(proc)
        pipes.append(parent_end)
    limit = time.monotonic() + deadline.left(30 + args.clients)
    if not all(receive(pipe, "ready", limit) for pipe in pipes):
        raise RuntimeError("a client process did not start")

    warm = run_phase(pipes, single_jobs(user_ids, args.warmup, 0, "warm-up"),
                     args.concurrency, 30, deadline)
    print_phase("warm-up (not counted)", warm)
    # The framework's own ceiling on this machine: a view that only answers JSON, through the
    # same server, middleware and clients (no database, no cache).
    load = os.getloadavg()[0]
    machine_before = machine_busy()
    trivial = run_phase(pipes, [(TRIVIAL_PATH, None)] * args.requests, args.concurrency,
                        min(args.duration, 10), deadline)
    trivial["ok"] = trivial["statuses"].get(200, 0)
    print_phase(f"trivial view GET {TRIVIAL_PATH} (load {load:.1f} at the start)", trivial)
    print(f"  {trivial['ok'] / trivial['wall'] if trivial['wall'] else 0:.0f} requests/s")
    print_machine(machine_before, trivial["wall"], trivial["ok"], "request")
    deadline.check("trivial view")

    load = os.getloadavg()[0]
    cpu_before = web_cpu(procs)
    machine_before = machine_busy()
    single = run_phase(pipes, single_jobs(user_ids, args.requests, args.warmup, "single"),
                       args.concurrency, args.duration, deadline)
    print_phase(f"single (load {load:.1f} at the start)", single)
    busy = {pid: seconds - cpu_before.get(pid, 0) for pid, seconds in web_cpu(procs).items()}
    for pid, seconds in busy.items():
        print(f"  web pid {pid}: {seconds / single['wall'] * 100:.0f} % CPU")
    print(f"  web processes: {sum(busy.values()) / max(1, single['ok']) * 1000:.1f} ms CPU "
          "per request")
    print_machine(machine_before, single["wall"], single["ok"], "request")
    summary["rps"] = single["ok"] / single["wall"] if single["wall"] else 0
    summary["p99"] = percentile(single["latencies"], 99)
    deadline.check("single requests")

    load = os.getloadavg()[0]
    cpu_before = web_cpu(procs)
    machine_before = machine_busy()
    bulk = run_phase(pipes, bulk_jobs(user_ids, args.bulk_requests, args.bulk_size),
                     args.bulk_concurrency, deadline.left(120), deadline)
    print_phase(f"bulk of {args.bulk_size} (load {load:.1f} at the start)", bulk)
    busy = sum(web_cpu(procs).values()) - sum(cpu_before.values())
    print(f"  web processes: {busy / max(1, bulk['created']) * 1e6:.0f} µs CPU per notification")
    print_machine(machine_before, bulk["wall"], bulk["created"], "notification")
    summary["bulk_per_s"] = bulk["created"] / bulk["wall"] if bulk["wall"] else 0

    for pipe in pipes:
        pipe.send(("stop",))
    run.stop_children()
    reported = warm["created"] + single["created"] + bulk["created"]
    stored = Notification.objects.count()
    print(f"database: {stored} notifications stored, {reported} reported created"
          + ("" if stored == reported else "  <-- MISMATCH"))
    connections.close_all()
    errors, samples, warnings = stop_when_idle(run, deadline, 120, "the last answer")
    summary["errors"] = errors
    print(f"server log: {errors} error lines, {warnings} warnings while running")
    for line in samples:
        print(f"  {line}")


def main():
    args = parse_args()
    database, redis_url = check_environment("api.py")
    deadline = Deadline(args.timeout)
    run = Run()
    run.keep_log = args.keep_log
    run.redis_url = redis_url
    summary = {"web": 0, "rps": 0.0, "p99": float("nan"), "bulk_per_s": 0.0, "errors": 0}

    import multiprocessing

    import django

    ctx = multiprocessing.get_context("spawn")  # no inherited database or Redis connections
    django.setup()
    import aiohttp  # noqa: F401 - fail before starting anything when it is missing
    import psutil  # noqa: F401

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(machine_line())
    print(f"database {database}, redis {redis_url}")

    def body():
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        drop_database(database)  # a leftover of a run that was killed hard
        run.database = database
        measure(run, ctx, args, deadline, summary)

    status = guarded("api.py", args.timeout, run, body)
    print(f"api rps={summary['rps']:.0f} p99_ms={summary['p99']:.1f} "
          f"bulk_per_s={summary['bulk_per_s']:.0f}")
    sys.exit(status)


if __name__ == "__main__":
    main()
