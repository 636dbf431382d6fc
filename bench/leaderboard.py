"""Leaderboard benchmark: a million players, measured through the app's own selectors and services.

    .venv/bin/python bench/leaderboard.py --players 1000000

Uses its own PostgreSQL database (created and migrated here) and Redis db 7, unless
DATABASE_URL / REDIS_URL say otherwise. Loads users and entries with COPY, builds the sorted set
with the app's rebuild (pipelined ZADD), then times: a random player's rank through Redis and
through the database fallback, the top 10, "around me", and concurrent score submits (each a
real transaction with its after-commit sorted-set update). Prints the figures and the command;
the last line is the summary.
"""

import argparse
import multiprocessing
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/herald_bench_lb")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # debug, a per-run key
os.environ.setdefault("LOG_LEVEL", "WARNING")
# As in production: with DEBUG on, Django also records every query in memory. The bench serves
# no requests, so a throwaway key is enough.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def timed_ms(function, arguments) -> list[float]:
    samples = []
    for argument in arguments:
        start = time.perf_counter()
        function(argument)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def describe(name: str, samples: list[float]) -> str:
    return (
        f"{name:<22} n={len(samples):<6} p50={statistics.median(samples):.3f} ms"
        f"  p99={percentile(samples, 99):.3f} ms  max={max(samples):.3f} ms"
    )


def load(players: int, seed: int) -> None:
    """Replace every user and entry with ``players`` bench players (ids 1..players) via COPY."""
    from django.db import connection

    from leaderboard.models import LeaderboardEntry

    rng = random.Random(seed)
    now = datetime.now(UTC)
    users_table = connection.ops.quote_name("auth_user")
    entries_table = connection.ops.quote_name(LeaderboardEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {users_table}, {entries_table} RESTART IDENTITY CASCADE")
        raw = cursor.cursor  # psycopg 3 cursor behind Django's wrapper
        with raw.copy(
            f"COPY {users_table} (id, password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) FROM STDIN"
        ) as copy:
            for user_id in range(1, players + 1):
                copy.write_row(
                    (user_id, "!", False, f"bench{user_id}", "", "", "", False, True, now)
                )
        # Many ties, as on a real board: totals from a skewed range.
        with raw.copy(
            f"COPY {entries_table} (user_id, total_score, games_played, updated_at) FROM STDIN"
        ) as copy:
            for user_id in range(1, players + 1):
                total = int(rng.paretovariate(1.2) * 100) % 200_000
                copy.write_row((user_id, total, rng.randint(1, 50), now))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('auth_user', 'id'), %s)", [players]
        )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {users_table}")
        cursor.execute(f"VACUUM (ANALYZE) {entries_table}")


def submitter(worker: int, count: int, players: int, ready, go) -> None:
    from django.db import connections

    from leaderboard import services

    rng = random.Random(worker)
    targets = [rng.randint(1, players) for _ in range(count)]
    services.score_submit(user_id=targets[0], points=1)  # connect before the clock starts
    ready.wait()
    go.wait()
    for user_id in targets:
        services.score_submit(user_id=user_id, points=rng.randint(1, 10))
    connections.close_all()


def round_trips(players: int) -> str:
    """What one submit sends: SQL statements and Redis commands (a submit far from the top)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from redis.connection import Connection

    from leaderboard import services

    services.score_submit(user_id=players, points=1)  # the statement is prepared by now
    sent = []
    send = Connection.send_packed_command
    Connection.send_packed_command = lambda self, command, *a, **k: (
        sent.append(command),
        send(self, command, *a, **k),
    )[1]
    try:
        with CaptureQueriesContext(connection) as queries:
            services.score_submit(user_id=players, points=1)
    finally:
        Connection.send_packed_command = send
    return f"{len(queries)} SQL statement(s), {len(sent)} Redis round trip(s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5000, help="timed reads per measure")
    parser.add_argument("--db-samples", type=int, default=500, help="timed database-rank reads")
    parser.add_argument("--submits", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8, help="concurrent submitter processes")
    parser.add_argument("--reload", action="store_true", help="reload even if already loaded")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="run with synchronous_commit=off (PostgreSQL acknowledges before the WAL flush)",
    )
    args = parser.parse_args()
    if args.async_commit:
        os.environ["PGOPTIONS"] = (os.environ.get("PGOPTIONS", "") + " -c synchronous_commit=off").strip()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from leaderboard import selectors, services, sorted_set
    from leaderboard.models import LeaderboardEntry

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    sorted_set.client().flushdb()  # the bench's own Redis db: cache, broker and sorted set

    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# database {connection.settings_dict['NAME']}, redis {os.environ['REDIS_URL']},"
          f" synchronous_commit={'off' if args.async_commit else 'on'}")
    start = time.perf_counter()
    loaded = LeaderboardEntry.objects.count()
    if args.reload or loaded != args.players:
        load(args.players, args.seed)
        print(f"load (COPY users + entries, VACUUM ANALYZE): {time.perf_counter() - start:.1f} s")
    else:
        print(f"load: reusing {loaded} entries already in the bench database")
        with connection.cursor() as cursor:  # earlier runs' submits left dead row versions
            cursor.execute(f"VACUUM (ANALYZE) {LeaderboardEntry._meta.db_table}")

    start = time.perf_counter()
    report = services.ranking_rebuild()
    print(f"sorted set rebuild (pipelined ZADD of {report['entries']} members): "
          f"{time.perf_counter() - start:.1f} s")

    rng = random.Random(args.seed + 1)
    ids = [rng.randint(1, args.players) for _ in range(args.samples)]
    assert sorted_set.rank_of(ids[0]) == selectors.rank_for_db(user_id=ids[0])  # same answer

    # Warm up connections and caches before timing.
    for user_id in ids[:200]:
        selectors.rank_for(user_id=user_id)
        selectors.top()
    rank_ms = timed_ms(lambda uid: selectors.rank_for(user_id=uid), ids)
    db_rank_ms = timed_ms(lambda uid: selectors.rank_for_db(user_id=uid), ids[: args.db_samples])
    top_ms = timed_ms(lambda _: selectors.top(), range(args.samples))
    around_ms = timed_ms(lambda uid: selectors.around(user_id=uid), ids[: args.db_samples])
    print(describe("rank (Redis)", rank_ms))
    print(describe("rank (database)", db_rank_ms))
    print(describe("top 10", top_ms))
    print(describe("around me", around_ms))

    # Submitters are processes, like web workers: each its own connections and interpreter.
    per_worker = args.submits // args.workers
    context = multiprocessing.get_context("fork")
    ready, go = context.Barrier(args.workers + 1), context.Event()
    connections.close_all()  # children open their own
    workers = [
        context.Process(target=submitter, args=(n, per_worker, args.players, ready, go))
        for n in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    go.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if any(worker.exitcode for worker in workers):
        raise SystemExit("a submitter failed")
    submits_per_s = per_worker * args.workers / elapsed
    print(f"submits: {per_worker * args.workers} by {args.workers} processes in {elapsed:.2f} s")
    print(f"one submit: {round_trips(args.players)}")

    drift = services.ranking_rebuild()
    print(f"sorted set vs table after the submits: {drift['missing']} missing, "
          f"{drift['wrong']} wrong, {drift['extra']} extra")
    print(
        f"leaderboard players={args.players} rank_p99_ms={percentile(rank_ms, 99):.3f}"
        f" db_rank_p99_ms={percentile(db_rank_ms, 99):.3f} top10_p99_ms={percentile(top_ms, 99):.3f}"
        f" submits_per_s={submits_per_s:.0f}"
    )


if __name__ == "__main__":
    main()
