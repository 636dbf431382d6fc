"""Fan-out benchmark: one notify() to N subscribers of one event vs. a naive per-user loop.

Against PostgreSQL and Redis (services mode), in a database of its own:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench \
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/fanout.py --recipients 10000

It makes N users subscribed to one event topic, each with one open "page" attached to its live
events on one event loop (``notifications.realtime.live``, as a web process's consumers are),
then:
- ours: ``notify()`` inside a transaction; the rows are persisted when it commits, then the
  in-app push runs as the after-commit Celery tasks do (inline here) through the Redis layer;
- naive: per user, one ``Notification.objects.create`` and one blocking ``group_send`` to a
  per-user group;
- the peer: django-notifications-community's ``notify.send`` to a group of the same N users
  (``bench/peer_notifications.py``, in a process and a database of its own made and dropped here,
  ``<database>_peer``: its package and table are also called ``notifications``), timed the same
  way as ours to its commit, with the same garbage collector settings as ours (below);
  ``--no-peer`` skips it;
- the table's floor: PostgreSQL alone inserting one row per recipient from a single
  ``INSERT … SELECT`` and committing it, the rate no fan-out into this table can pass.
``notify()`` runs with the collector settings of Herald's web and worker processes
(``config.collector``: what is loaded at start frozen, the young generation swept every
``GC_THRESHOLD`` allocations). Timings exclude setup and clean-up. The last line has a fixed
format for scripts.
"""

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # bench/served.py
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # debug, a per-run key


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10000)
    parser.add_argument("--keep", action="store_true", help="keep the users and rows afterwards")
    parser.add_argument("--naive-sample", type=int, default=1000,
                        help="users the naive loop is timed over")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip django-notifications-community's notify.send")
    return parser.parse_args()


# The peer's release, installed for the benchmark alone into a folder of its own (its package is
# also called ``notifications``: in the project's virtualenv it would shadow Herald's wherever the
# project root is not first on the path, as in a console script such as ``celery``).
PEER_PACKAGE = "django-notifications-community==1.12.3"


def peer_site() -> Path:
    """A folder holding the peer's package (it needs nothing but Django), installed on first use."""
    site = Path(tempfile.gettempdir()) / f"herald-bench-peer-{PEER_PACKAGE.split('==')[1]}"
    if not (site / "notifications" / "__init__.py").exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
             str(site), PEER_PACKAGE],
            check=True,
        )
    return site


def peer_rows_per_s(count: int, first_id: int) -> tuple[float, float]:
    """django-notifications-community's ``notify.send`` to a group of ``count`` users, in a
    database of its own next to this run's (created here, dropped afterwards); (rows/s, s)."""
    from django.conf import settings
    from psycopg import sql

    from served import drop_database, maintenance_connection

    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_peer"[:63]
    drop_database(name)
    with maintenance_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        command = [sys.executable, str(Path(__file__).with_name("peer_notifications.py")),
                   "--database", name, "--users", str(count), "--first-id", str(first_id),
                   "--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432),
                   "--user", db.get("USER") or "postgres", "--password", db.get("PASSWORD") or "",
                   # The peer's process gets the collector settings Herald's processes run with.
                   "--gc-threshold", str(settings.GC_THRESHOLD)]
        environment = {**os.environ, "PYTHONPATH": str(peer_site())}
        out = subprocess.run(command, capture_output=True, text=True, timeout=600,
                             env=environment)
        found = re.search(r"peer rows=(\d+) seconds=([\d.]+)", out.stdout)
        if out.returncode or not found:
            raise RuntimeError(f"the peer failed: {out.stderr.strip()[-2000:]}")
        rows, seconds = int(found[1]), float(found[2])
        if rows != count:
            raise RuntimeError(f"the peer stored {rows} rows for {count} users")
        return rows / seconds, seconds
    finally:
        drop_database(name)


def table_floor_s(user_ids: list[int], dedupe_key: str) -> float:
    """Seconds for PostgreSQL to insert and commit one notification row per user (the same
    columns as a fan-out's, ON CONFLICT DO NOTHING on the same constraint) from one statement."""
    from django.db import connection, transaction

    from notifications.models import Notification

    table = connection.ops.quote_name(Notification._meta.db_table)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (recipient_id, kind, priority, title, body, url, data, "
            "dedupe_key, in_app, silenced, is_read, created_at) "
            "SELECT r, 'event_updated', 'normal', 'Bench night was updated', "
            "'Changed: starts_at.', '/events/bench/', "
            "'{\"event_title\": \"Bench night\", \"changes\": [\"starts_at\"]}'::jsonb, %s, "
            "true, '', false, now() FROM unnest(%s::bigint[]) AS r "
            "ON CONFLICT (recipient_id, dedupe_key) DO NOTHING RETURNING id",
            [dedupe_key, list(user_ids)],
        )
        inserted = len(cursor.fetchall())
    elapsed = time.perf_counter() - started
    assert inserted == len(user_ids), (inserted, len(user_ids))
    return elapsed


def main():
    args = parse_args()
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from config.celery import app
    from config.collector import tune_garbage_collector
    from notifications.realtime import live
    from notifications.kinds import EVENT_UPDATED
    from notifications.models import Notification, Subscription
    from notifications.selectors import subscribers
    from notifications.services import notify

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        sys.exit("bench/fanout.py needs DATABASE_URL (PostgreSQL) and REDIS_URL set.")
    call_command("migrate", verbosity=0)
    # notify() runs here as in a web or worker process, with their collector settings: what is
    # loaded by now is frozen, the young generation swept every GC_THRESHOLD allocations.
    tune_garbage_collector()
    # The after-commit tasks run inline, so "pushed" means sent through the Redis layer.
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    layer = get_channel_layer()
    count = args.recipients
    run = uuid.uuid4().hex[:8]
    topic = f"events.event:bench-{run}"
    user_model = get_user_model()

    # --- setup (not timed) ---
    users = user_model.objects.bulk_create(
        [user_model(username=f"fanout-{run}-{n}", email="", password="!") for n in range(count)],
        batch_size=2000,
    )
    user_ids = [user.pk for user in users]
    Subscription.objects.bulk_create(
        [Subscription(user_id=user_id, topic=topic) for user_id in user_ids], batch_size=2000
    )

    # The pub/sub layer keeps subscriptions per event loop: the pages live on one loop in a
    # thread of their own, as a web process's sockets do, for the whole run.
    pages_loop = asyncio.new_event_loop()
    threading.Thread(target=pages_loop.run_forever, daemon=True).start()

    def on_pages(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, pages_loop).result()

    class Page:
        """An open page's socket: keeps the id of each notification it is handed."""

        def __init__(self):
            self.ids = asyncio.Queue()

        async def dispatch(self, event):
            self.ids.put_nowait(event.get("id"))

    async def open_pages():
        pages = {user_id: Page() for user_id in user_ids}
        for user_id, page in pages.items():
            await live.attach(user_id, page)
        return pages

    pages = on_pages(open_pages())

    # --- ours ---
    marks = {}
    started = time.perf_counter()
    with transaction.atomic():
        # Registered first, so it runs first after commit: the persist/push boundary.
        transaction.on_commit(lambda: marks.setdefault("committed", time.perf_counter()))
        result = notify(
            kind=EVENT_UPDATED,
            recipients=subscribers(topic=topic, kind=EVENT_UPDATED),
            context={"event_title": "Bench night", "changes": ["starts_at"]},
            dedupe_key=f"bench:{run}:updated",
            url="/events/bench/",
        )
    finished = time.perf_counter()
    persist_s = marks["committed"] - started
    push_s = finished - marks["committed"]
    persisted = Notification.objects.filter(dedupe_key=f"bench:{run}:updated").count()
    assert persisted == result.created == count, (persisted, result.created, count)

    async def received(user_id):
        try:
            return await asyncio.wait_for(pages[user_id].ids.get(), 10)
        except TimeoutError:
            return None

    sample = user_ids[:: max(1, count // 5)]
    got = [on_pages(received(user_id)) for user_id in sample]
    # A page without its push fails the run, after the other figures are measured and printed.
    push_failed = not all(got)

    # --- the table's floor: PostgreSQL alone inserting the same rows (same recipients, a key of
    # their own) in one INSERT … SELECT and committing them; no recipient query, preferences or
    # Python per row. Whatever notify() does, its rows cannot persist faster than this. ---
    floor_s = table_floor_s(user_ids, f"bench:{run}:floor")

    # --- naive: one INSERT and one group_send per user, timed over the first users (its rate
    # does not change with the count, and all 10,000 would take minutes) ---
    naive_users = user_ids[: args.naive_sample]
    naive_started = time.perf_counter()
    for user_id in naive_users:
        row = Notification.objects.create(
            recipient_id=user_id,
            kind=EVENT_UPDATED,
            title="Bench night was updated",
            body="Changed: starts_at.",
            url="/events/bench/",
            data={"event_title": "Bench night", "changes": ["starts_at"]},
            dedupe_key=f"bench:{run}:naive",
        )
        async_to_sync(layer.group_send)(
            f"user.{user_id}",
            {"type": "notification.created", "id": row.pk, "unread": 1, "priority": "normal"},
        )
    naive_s = time.perf_counter() - naive_started
    peer_per_s = peer_s = float("nan")
    if not args.no_peer:
        peer_per_s, peer_s = peer_rows_per_s(count, user_ids[0])

    if not args.keep:
        for start in range(0, count, 2000):
            chunk = user_ids[start : start + 2000]
            Notification.objects.filter(recipient_id__in=chunk).delete()
            user_model.objects.filter(pk__in=chunk).delete()

        async def close_pages():
            for user_id, page in pages.items():
                live.detach(user_id, page)

        on_pages(close_pages())

    persisted_per_s = count / persist_s
    pushed_per_s = count / push_s
    naive_per_s = len(naive_users) / naive_s
    speedup = (count / naive_per_s) / (persist_s + push_s)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"layer: {settings.CHANNEL_LAYERS['default']['BACKEND']}")
    print(f"ours:  persist {persist_s:.3f} s, push {push_s:.3f} s ({count} recipients)")
    print(f"naive: {naive_s:.3f} s for {len(naive_users)} users (one INSERT + one group_send each)")
    print(f"peer:  django-notifications-community notify.send to a group: persist {peer_s:.3f} s "
          f"({peer_per_s:.0f} rows/s); ours persisted {persisted_per_s / peer_per_s:.1f}x as many "
          "per second")
    print(f"table: PostgreSQL's own INSERT … SELECT of the same {count} rows and its commit: "
          f"{floor_s:.3f} s ({count / floor_s:.0f} rows/s), the ceiling of any fan-out into this "
          f"table; ours took {persist_s / floor_s:.1f}x as long")
    print(f"load: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"fanout recipients={count} persisted_per_s={persisted_per_s:.0f} "
        f"pushed_per_s={pushed_per_s:.0f} naive_per_s={naive_per_s:.0f} speedup={speedup:.1f} "
        f"peer_per_s={peer_per_s:.0f} peer_ratio={persisted_per_s / peer_per_s:.1f} "
        f"table_floor_per_s={count / floor_s:.0f}"
    )
    if push_failed:
        sys.exit("a page did not receive its push within 10 s: pushed_per_s is not valid")


if __name__ == "__main__":
    main()
