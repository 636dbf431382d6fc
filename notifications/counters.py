"""Counters in Django's cache: unread badges and rate-limit windows.

On Redis (``RedisCache``) a whole batch of keys is changed by one server-side script on the cache's
own connection, so a fan-out to thousands of users costs one round trip and each change is atomic.
In embedded mode (local memory) the same functions loop over ``cache.incr``.

The unread counter is an accelerator: it may be missing (eviction, FLUSHDB, restart) and is then
rebuilt from the database; it expires after an hour so any drift heals on its own.
"""

import functools
from collections.abc import Iterable

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

try:
    from redis.exceptions import RedisError

    # What an unreachable or failing cache raises; callers that can do without a counter catch it.
    CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError,)
except ImportError:  # pragma: no cover - redis is a runtime dependency
    CACHE_ERRORS = ()

UNREAD_TTL_SECONDS = 3600
BATCH = 10000

# The scripts get one key template and the ids as one comma-separated argument and build each
# key themselves: sending 10,000 keys one by one cost more in Python (packing each argument and
# prefixing each key) than the script takes to run. ARGV: head, tail, ids, then the script's own.
# Keys made inside a script are fine on one Redis server (the cache's), not on a Redis Cluster.
_EACH_KEY = """
local head, tail, i, out = ARGV[1], ARGV[2], 0, {}
for id in string.gmatch(ARGV[3], '[^,]+') do
  i = i + 1
  local key = head .. id .. tail
"""

# Add ARGV[4] to each existing key; a missing key stays missing (-1), one that would go negative
# is deleted (-1) so the next read rebuilds it from the database.
_INCR_EXISTING = _EACH_KEY + """
  if redis.call('EXISTS', key) == 1 then
    local value = redis.call('INCRBY', key, ARGV[4])
    if value < 0 then redis.call('DEL', key); value = -1 end
    out[i] = value
  else
    out[i] = -1
  end
end
return out
"""

# Add 1 to each key, creating it with a time to live of ARGV[4] when new (a fixed rate-limit
# window). Only values above ARGV[5] come back, as (position, value) pairs: in the usual fan-out
# nobody is over the limit and the answer is empty.
_INCR_WINDOW = _EACH_KEY + """
  local value = redis.call('INCR', key)
  if value == 1 then redis.call('EXPIRE', key, ARGV[4]) end
  if value > tonumber(ARGV[5]) then out[#out + 1] = i; out[#out + 1] = value end
end
return out
"""


# KEYS[1]: a guard counter (e.g. a client address's failed attempts), KEYS[2] (optional): a
# counter to add 1 to unless the guard is above ARGV[1], starting a window of ARGV[2] seconds
# when new. Returns {guard, counter (0 when not counted)}.
_GUARDED_INCR = """
local guard = tonumber(redis.call('GET', KEYS[1]) or '0')
if guard > tonumber(ARGV[1]) or #KEYS < 2 then return {guard, 0} end
local value = redis.call('INCR', KEYS[2])
if value == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {guard, value}
"""


def _redis_client():
    """A client on the connection pool of Django's own cache backend, or None when it is not
    Redis. Kept per backend: a new redis-py client (what the backend's ``get_client`` makes on
    every call) copies its table of ~170 response callbacks, which cost more CPU than the round
    trip of a short script."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return _client_of(backend._cache)


@functools.lru_cache(maxsize=8)
def _client_of(cache_client):
    return cache_client.get_client(None, write=True)


_ID = "\x00"


def _key_parts(template: str) -> tuple[str, str]:
    """The cache's full key for ``template`` (with ``{}`` where the id goes), split around the
    id: Django's key function wraps the key (prefix, version) without changing it."""
    head, tail = cache.make_key(template.format(_ID)).split(_ID)
    return head, tail


def _run_script(source: str, template: str, ids: list[int], *args: int) -> list[int]:
    client = _redis_client()
    script = client.register_script(source)
    head, tail = _key_parts(template)
    results: list[int] = []
    for start in range(0, len(ids), BATCH):
        chunk = ",".join(map(str, ids[start : start + BATCH]))
        results.extend(int(value) for value in script(keys=[], args=[head, tail, chunk, *args]))
    return results


def incr_existing_many(template: str, ids: list[int], delta: int) -> list[int | None]:
    """Add ``delta`` to each key ``template.format(id)`` that exists; None for a missing key.
    Atomic per key."""
    if not ids:
        return []
    if _redis_client() is not None:
        values = _run_script(_INCR_EXISTING, template, ids, delta)
        return [None if value < 0 else value for value in values]
    results: list[int | None] = []
    for key in (template.format(id_) for id_ in ids):
        try:
            value = cache.incr(key, delta)
        except ValueError:
            value = None
        if value is not None and value < 0:
            cache.delete(key)
            value = None
        results.append(value)
    return results


def incr_window_positions(
    template: str, ids: list[int], *, ttl: int, above: int
) -> dict[int, int]:
    """Add 1 to each key ``template.format(id)``, starting a window of ``ttl`` seconds for a new
    key; an id may repeat (counted each time). Returns {position in ``ids``: the value after that
    increment} for the increments that went above ``above``."""
    if not ids:
        return {}
    if _redis_client() is not None:
        results = {}
        for start in range(0, len(ids), BATCH):
            # The script numbers the positions of its own chunk from 1.
            pairs = _run_script(_INCR_WINDOW, template, ids[start : start + BATCH], ttl, above)
            results.update(
                {start + position - 1: value for position, value in zip(pairs[::2], pairs[1::2])}
            )
        return results
    results = {}
    for position, id_ in enumerate(ids):
        key = template.format(id_)
        cache.add(key, 0, ttl)
        try:
            value = cache.incr(key)
        except ValueError:  # Expired between add and incr: a new window.
            cache.set(key, 1, ttl)
            value = 1
        if value > above:
            results[position] = value
    return results


def guarded_incr(guard: str, counter: str | None, *, guard_limit: int, ttl: int) -> tuple[int, int]:
    """The value of the counter ``guard`` and, unless it is above ``guard_limit``, ``counter``
    incremented (a window of ``ttl`` seconds from its first increment): (guard, counter), the
    counter 0 when it was not counted. One round trip on Redis, atomic."""
    client = _redis_client()
    if client is not None:
        keys = [cache.make_key(guard)] + ([cache.make_key(counter)] if counter else [])
        guard_value, value = client.register_script(_GUARDED_INCR)(
            keys=keys, args=[guard_limit, ttl]
        )
        return int(guard_value), int(value)
    guard_value = cache.get(guard, 0)
    if guard_value > guard_limit or not counter:
        return guard_value, 0
    return guard_value, incr_window(counter, ttl=ttl)


def incr_window(key: str, *, ttl: int) -> int:
    """Add 1 to the counter ``key``, starting a window of ``ttl`` seconds when it is new; the
    value after the increment. Atomic on Redis (one round trip)."""
    return incr_window_positions("{}", [key], ttl=ttl, above=-1)[0]


UNREAD_KEY = "notifications:unread:{}"


def unread_key(user_id: int) -> str:
    return UNREAD_KEY.format(user_id)


def get_unread_many(user_ids: Iterable[int]) -> dict[int, int]:
    """Cached unread counts of the users that have one (misses are left out)."""
    user_ids = list(user_ids)
    if not user_ids:
        return {}
    client = _redis_client()
    if client is None:
        keys = {unread_key(user_id): user_id for user_id in user_ids}
        return {keys[key]: int(value) for key, value in cache.get_many(list(keys)).items()}
    # One MGET without Django's per-key validation (a fan-out reads thousands at once).
    values = client.mget([cache.make_key(unread_key(user_id)) for user_id in user_ids])
    return {
        user_id: int(value) for user_id, value in zip(user_ids, values) if value is not None
    }


def store_unread_many(counts: dict[int, int]) -> None:
    """Store rebuilt counts, keeping any value another process stored first."""
    if not counts:
        return
    client = _redis_client()
    if client is None:
        for user_id, count in counts.items():
            cache.add(unread_key(user_id), count, UNREAD_TTL_SECONDS)
        return
    pipeline = client.pipeline(transaction=False)
    for user_id, count in counts.items():
        key = cache.make_and_validate_key(unread_key(user_id))
        pipeline.set(key, count, ex=UNREAD_TTL_SECONDS, nx=True)
    pipeline.execute()


def adjust_unread_many(deltas: dict[int, int]) -> None:
    """Apply per-user changes to the counters that exist (missing ones rebuild on read)."""
    by_delta: dict[int, list[int]] = {}
    for user_id, delta in deltas.items():
        if delta:
            by_delta.setdefault(delta, []).append(user_id)
    for delta, user_ids in by_delta.items():
        incr_existing_many(UNREAD_KEY, user_ids, delta)


def forget_unread(user_id: int) -> None:
    cache.delete(unread_key(user_id))
