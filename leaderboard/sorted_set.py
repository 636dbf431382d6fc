"""The Redis sorted set of leaderboard totals: an accelerator, never the record.

Member = user id, score = total. Totals only grow, so writes use ``ZADD GT``: replaying an
older total, or two commits landing out of order, can never lower a score. Every read answers
``None`` when Redis is not configured (embedded mode), unreachable, or has lost the set, and the
caller falls back to the database.
"""

import functools
import logging
from collections.abc import Iterable

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# One round trip for a rank: the member's score, then how many are strictly greater.
# Answers -1 when the set is gone (flushed) and -2 when the member is missing.
_RANK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return -2 end
return redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf') + 1
"""

# Writes only into an existing set: ARGV = member, total, member, total, ...
_SET_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'GT', ARGV[i + 1], ARGV[i]) end
return 1
"""

# After a submit commits, in one round trip: raise one member (only in an existing set), drop the
# keys the change made stale, and set a flag unless it is already set.
# KEYS = set, flag, keys to drop...; ARGV = flag seconds, member, total.
# Answers {1 when written (0: the set is gone), 1 when this call set the flag}.
_AFTER_SUBMIT_SCRIPT = """
local written = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[2])
  written = 1
end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
local flagged = 0
if redis.call('SET', KEYS[2], '1', 'EX', ARGV[1], 'NX') then flagged = 1 end
return {written, flagged}
"""

_REDIS_CACHE = "config.cache.RedisCache"


def key() -> str:
    return settings.LEADERBOARD_REDIS_KEY


@functools.lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _url() -> str:
    return settings.LEADERBOARD_REDIS_URL or settings.REDIS_URL


def client() -> redis.Redis | None:
    """The Redis client, or None in embedded mode."""
    url = _url()
    return _client_for(url) if url else None


def shares_cache() -> bool:
    """Whether Django's default cache is this same Redis (the default setup), so work on the set
    and on cache keys can go in one script."""
    url = _url()
    default = settings.CACHES.get("default", {})
    return bool(url) and default.get("BACKEND") == _REDIS_CACHE and default.get("LOCATION") == url


@functools.lru_cache(maxsize=16)
def _script(conn: redis.Redis, source: str):
    return conn.register_script(source)


def set_totals(totals: Iterable[tuple[int, int]]) -> bool | None:
    """Raise members to the given totals (ZADD GT). Idempotent.

    Answers True when written, False when the set is gone (a partial set would give wrong
    ranks, so nothing is written and the caller asks for a rebuild), None when Redis is
    unavailable.
    """
    conn = client()
    if conn is None:
        return None
    args: list[str | int] = []
    for user_id, total in totals:
        args.extend((str(user_id), total))
    if not args:
        return True
    try:
        return bool(_script(conn, _SET_SCRIPT)(keys=[key()], args=args))
    except redis.RedisError:
        logger.warning("Leaderboard sorted set not updated; the nightly rebuild repairs it.")
        return None


def set_total_after_submit(
    user_id: int, total: int, *, flag_key: str, flag_seconds: int, drop: Iterable[str] = ()
) -> tuple[bool, bool] | None:
    """One round trip after a submit: ``ZADD GT`` the new total, delete the ``drop`` keys and
    set ``flag_key`` (value 1, ``flag_seconds`` to live) unless it is set.

    The keys are full Redis key names (``cache.make_key(...)`` for cache keys), in this Redis.
    Answers ``(written, flag set by this call)``, where ``written`` is False when the set is gone
    (nothing is written, as in ``set_totals``), or None when Redis is unavailable.
    """
    conn = client()
    if conn is None:
        return None
    try:
        written, flagged = _script(conn, _AFTER_SUBMIT_SCRIPT)(
            keys=[key(), flag_key, *drop], args=[flag_seconds, str(user_id), total]
        )
    except redis.RedisError:
        logger.warning("Leaderboard sorted set not updated; the nightly rebuild repairs it.")
        return None
    return bool(written), bool(flagged)


def rank_of(user_id: int) -> int | None:
    conn = client()
    if conn is None:
        return None
    try:
        answer = _script(conn, _RANK_SCRIPT)(keys=[key()], args=[str(user_id)])
    except redis.RedisError:
        logger.warning("Leaderboard rank read from the database: Redis unavailable.")
        return None
    return int(answer) if answer > 0 else None


def counts_above(totals: list[int]) -> dict[int, int] | None:
    """How many members have a total strictly greater than each given total (one round trip)."""
    conn = client()
    if conn is None:
        return None
    try:
        pipe = conn.pipeline(transaction=False)
        pipe.exists(key())
        for total in totals:
            pipe.zcount(key(), f"({total}", "+inf")
        exists, *counts = pipe.execute()
    except redis.RedisError:
        return None
    if not exists:
        return None
    return dict(zip(totals, counts, strict=True))


def rebuild(rows: Iterable[tuple[int, int]], *, chunk_size: int = 10_000) -> dict[str, int]:
    """Rebuild the set from ``(user_id, total)`` rows and report how far the old one had drifted.

    The new set is written under a temporary key and swapped in with RENAME, so readers never
    see a half-built set. Raises ``redis.RedisError`` when Redis fails part-way.
    """
    conn = client()
    if conn is None:
        raise RuntimeError("The leaderboard sorted set needs REDIS_URL.")
    live, building = key(), f"{key()}:rebuilding"
    conn.delete(building)
    report = {"entries": 0, "missing": 0, "wrong": 0, "extra": 0}
    found_in_old = 0
    old_size = conn.zcard(live)

    def flush(chunk: list[tuple[int, int]]) -> None:
        nonlocal found_in_old
        members = [str(user_id) for user_id, _ in chunk]
        old_scores = conn.zmscore(live, members)
        for (_, total), old in zip(chunk, old_scores, strict=True):
            if old is None:
                report["missing"] += 1
            else:
                found_in_old += 1
                if int(old) != total:
                    report["wrong"] += 1
        pipe = conn.pipeline(transaction=False)
        pipe.zadd(building, dict(zip(members, (total for _, total in chunk), strict=True)))
        pipe.execute()
        report["entries"] += len(chunk)

    chunk: list[tuple[int, int]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    report["extra"] = old_size - found_in_old
    if report["entries"]:
        conn.rename(building, live)
    else:
        conn.delete(live)
    return report
