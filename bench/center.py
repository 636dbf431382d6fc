"""Notification center benchmark: page times as one user's history grows, keyset vs OFFSET.

Against PostgreSQL and Redis, in a database of its own:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench \
    REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/center.py --rows 200000

It gives one user a history of N notifications, then measures (median of --repeat runs):
- the whole center page over HTTP (Django test client: session, selectors, templates), first
  page and a "load more" page deep in the history (``?before=<id>``, keyset by id);
- the page query alone at that depth, keyset (``id < before ORDER BY id DESC LIMIT 21``) and
  the OFFSET query a naive paginator would run for the same rows.
The history is bulk-inserted as setup (not measured; product code creates rows only through
``notify``). The last line has a fixed format for scripts.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # debug, a per-run key


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the user and rows afterwards")
    return parser.parse_args()


def median_ms(function, repeat: int) -> float:
    function()  # Warm caches (plan, buffers) once.
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main():
    args = parse_args()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from notifications import selectors
    from notifications.models import Notification

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        sys.exit("bench/center.py needs DATABASE_URL (PostgreSQL) and REDIS_URL set.")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)

    user_model = get_user_model()
    user_model.objects.filter(username="bench-center").delete()
    user = user_model.objects.create_user(username="bench-center", password="bench-pass-123")
    now = timezone.now()
    batch = 10_000
    for start in range(0, args.rows, batch):
        Notification.objects.bulk_create(
            Notification(
                recipient=user, kind="event_updated", title=f"Update {n}", body="Room changed.",
                url="/events/1/", dedupe_key=f"bench-center:{n}", created_at=now,
                is_read=n % 3 == 0,
            )
            for n in range(start, min(start + batch, args.rows))
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_notification")

    ids = list(
        Notification.objects.filter(recipient=user).order_by("-id").values_list("pk", flat=True)
    )
    depth = len(ids) - selectors.PAGE_SIZE  # The last page: the deepest "load more".
    deep_before = ids[depth - 1]

    client = Client()
    client.force_login(user)
    first_page_ms = median_ms(lambda: client.get("/notifications/"), args.repeat)
    deep_page_ms = median_ms(
        lambda: client.get(f"/notifications/?before={deep_before}", HTTP_HX_REQUEST="true"),
        args.repeat,
    )
    keyset_ms = median_ms(
        lambda: selectors.notification_list(user=user, before_id=deep_before, limit=21),
        args.repeat,
    )
    offset_ms = median_ms(
        lambda: list(
            selectors.visible_notifications(user=user).order_by("-id")[depth : depth + 21]
        ),
        args.repeat,
    )
    keyset_rows = selectors.notification_list(user=user, before_id=deep_before, limit=21)
    offset_rows = list(
        selectors.visible_notifications(user=user).order_by("-id")[depth : depth + 21]
    )
    assert [row.pk for row in keyset_rows] == [row.pk for row in offset_rows][: len(keyset_rows)]

    if not args.keep:
        user.delete()

    database = connection.settings_dict
    print(
        "command: DATABASE_URL=postgres://"
        f"{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']} "
        f"REDIS_URL={settings.REDIS_URL} .venv/bin/python {' '.join(sys.argv)}"
    )
    print(f"python {sys.version.split()[0]}, PostgreSQL {connection.pg_version}, rows={args.rows}")
    print(f"center first page over HTTP: {first_page_ms:.1f} ms")
    print(f"'load more' at row {depth:,} over HTTP (keyset): {deep_page_ms:.1f} ms")
    print(f"page query at row {depth:,}: keyset {keyset_ms:.2f} ms, OFFSET {offset_ms:.2f} ms")
    print(
        f"center rows={args.rows} first_page_ms={first_page_ms:.1f} "
        f"deep_page_ms={deep_page_ms:.1f} keyset_query_ms={keyset_ms:.2f} "
        f"offset_query_ms={offset_ms:.2f}"
    )


if __name__ == "__main__":
    main()
