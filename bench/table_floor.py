"""The notification table's own insert ceiling: what PostgreSQL alone does per fan-out.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench_floor \
    .venv/bin/python bench/table_floor.py --rows 10000 --runs 4

No Django, no Python per row: in a database of its own (created here and dropped afterwards),
each variant below is a table shaped like ``notifications_notification`` next to a users table,
and each run is one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING id`` of ``--rows`` rows
(one per user, a fan-out's shared texts) and its ``COMMIT``, timed apart:

- herald: the table as the migrations make it (five indexes with the primary key, the recipient
  foreign key ``DEFERRABLE INITIALLY DEFERRED`` as Django makes it);
- immediate-fk: the same, the foreign key checked per row instead of at commit;
- no-fk: the same indexes, no foreign key;
- unique-only: the primary key and the (recipient, dedupe key) constraint alone, no foreign key;
- narrow: the shared columns (kind, texts, data, url, subject) in a table of their own, one row
  per fan-out, and per recipient only its own state, with both foreign keys, as Herald's.

Prints the median and range per variant and rows/s; the last line has a fixed format:
``table_floor rows=<n> herald_per_s=<n> no_fk_per_s=<n> unique_only_per_s=<n> narrow_per_s=<n>``.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from urllib.parse import urlparse

import psycopg
from psycopg import sql

USERS = 200_000

STATE_COLUMNS = """
    in_app boolean NOT NULL, silenced varchar(16) NOT NULL, is_read boolean NOT NULL,
    read_at timestamptz, seen_at timestamptz, clicked_at timestamptz,
    dismissed_at timestamptz, created_at timestamptz NOT NULL
"""
SHARED_COLUMNS = """
    kind varchar(64) NOT NULL, priority varchar(8) NOT NULL, title varchar(200) NOT NULL,
    body text NOT NULL, url varchar(500) NOT NULL, content_type_id integer, object_id bigint,
    data jsonb NOT NULL, dedupe_key varchar(200) NOT NULL
"""
INDEXES = """
    CREATE INDEX ON {t} (recipient_id, id DESC);
    CREATE INDEX ON {t} (recipient_id, id DESC) WHERE NOT is_read AND in_app;
    CREATE INDEX ON {t} (read_at) WHERE is_read;
    CREATE INDEX ON {t} (created_at) WHERE NOT is_read;
"""
DEFERRED = "REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED"


def wide(name: str, foreign_key: str, indexes: bool) -> str:
    return (
        f"CREATE TABLE {name} (id bigserial PRIMARY KEY, recipient_id bigint NOT NULL "
        f"{foreign_key}, {SHARED_COLUMNS}, {STATE_COLUMNS}, UNIQUE (recipient_id, dedupe_key));"
        + (INDEXES.format(t=name) if indexes else "")
    )


# The variants shaped like the notification table: (table, foreign key clause, other indexes).
WIDE = {
    "herald": ("v_herald", DEFERRED, True),
    "immediate-fk": ("v_immediate", "REFERENCES users (id)", True),
    "no-fk": ("v_nofk", "", True),
    "unique-only": ("v_unique", "", False),
}
VARIANTS = {
    **{variant: wide(*shape) for variant, shape in WIDE.items()},
    "narrow": (
        f"CREATE TABLE v_shared (id bigserial PRIMARY KEY, {SHARED_COLUMNS}, "
        "created_at timestamptz NOT NULL);"
        f"CREATE TABLE v_narrow (id bigserial PRIMARY KEY, recipient_id bigint NOT NULL "
        f"{DEFERRED}, shared_id bigint NOT NULL REFERENCES v_shared (id) DEFERRABLE INITIALLY "
        f"DEFERRED, {STATE_COLUMNS}, UNIQUE (recipient_id, shared_id));"
        + INDEXES.format(t="v_narrow")
    ),
}

SHARED_VALUES = (
    "'event_updated', 'normal', 'Bench night was updated', 'Changed: starts_at.', "
    "'/events/bench/', NULL, NULL, "
    "'{\"event_title\": \"Bench night\", \"changes\": [\"starts_at\"]}'::jsonb"
)


def insert_statements(variant: str, run: int, rows: int) -> list[str]:
    first = run * rows + 1
    series = f"generate_series({first}, {first + rows - 1})"
    if variant == "narrow":
        return [
            "WITH shared AS (INSERT INTO v_shared (kind, priority, title, body, url, "
            "content_type_id, object_id, data, dedupe_key, created_at) VALUES "
            f"({SHARED_VALUES}, 'bench:{run}', now()) RETURNING id) "
            "INSERT INTO v_narrow (recipient_id, shared_id, in_app, silenced, is_read, created_at) "
            f"SELECT r, shared.id, true, '', false, now() FROM {series} AS r, shared "
            "ON CONFLICT (recipient_id, shared_id) DO NOTHING RETURNING id"
        ]
    return [
        f"INSERT INTO {WIDE[variant][0]} (recipient_id, kind, priority, title, body, url, "
        "content_type_id, object_id, data, dedupe_key, in_app, silenced, is_read, created_at) "
        f"SELECT r, {SHARED_VALUES}, 'bench:{run}', true, '', false, now() FROM {series} AS r "
        "ON CONFLICT (recipient_id, dedupe_key) DO NOTHING RETURNING id"
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench/table_floor.py needs DATABASE_URL (PostgreSQL).")
    if args.rows * (args.runs + 1) > USERS:
        sys.exit(f"--rows × (--runs + 1) must stay within {USERS} users")
    name = urlparse(url).path.lstrip("/")
    maintenance = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    results = {}
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE users (id bigint PRIMARY KEY)")
            conn.execute(f"INSERT INTO users SELECT generate_series(1, {USERS})")
            for statement in VARIANTS.values():
                conn.execute(statement)
            conn.execute("VACUUM ANALYZE")
            for variant in VARIANTS:
                # The first run (not counted) warms the table's and indexes' pages.
                totals, inserts, commits = [], [], []
                for run in range(args.runs + 1):
                    started = time.perf_counter()
                    with conn.transaction():
                        for statement in insert_statements(variant, run, args.rows):
                            inserted = len(conn.execute(statement).fetchall())
                            assert inserted == args.rows, (variant, inserted)
                        inserted_at = time.perf_counter()
                    finished = time.perf_counter()
                    if run:
                        inserts.append(inserted_at - started)
                        commits.append(finished - inserted_at)
                        totals.append(finished - started)
                results[variant] = args.rows / statistics.median(totals)
                print(
                    f"{variant:>13}: insert {min(inserts) * 1e3:.0f}–{max(inserts) * 1e3:.0f} ms, "
                    f"commit {min(commits) * 1e3:.0f}–{max(commits) * 1e3:.0f} ms, "
                    f"{args.rows / max(totals):,.0f}–{args.rows / min(totals):,.0f} rows/s "
                    f"(median {results[variant]:,.0f})"
                )
    finally:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    print(f"command: DATABASE_URL=… python bench/table_floor.py --rows {args.rows} "
          f"--runs {args.runs}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; "
          f"load {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"table_floor rows={args.rows} herald_per_s={results['herald']:.0f} "
        f"no_fk_per_s={results['no-fk']:.0f} unique_only_per_s={results['unique-only']:.0f} "
        f"narrow_per_s={results['narrow']:.0f}"
    )


if __name__ == "__main__":
    main()
