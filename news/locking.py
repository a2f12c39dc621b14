"""The fetch lock: one key in the shared Redis cache that names the run allowed to fetch.

The key is taken with `cache.add`, which Django's built-in RedisCache sends as
one `SET key value NX EX ttl`, so taking it is atomic and it always expires.
Its value names the owner run and the time it was taken.

Extending and releasing must only touch the owner's key: `cache.delete` would
remove a lock that expired and was then taken by the next run. Both are done
as compare-and-set Lua scripts on the cache's own Redis client, which Django
does not expose publicly, so this module reaches it through
`cache._cache.get_client()` (Django 5.2). The system check in news.checks
keeps any other cache backend out.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

LOCK_CACHE_ALIAS = "default"
LOCK_NAME = "fetch-lock"

# Set the key's time to live again, but only if its value is still ARGV[1].
EXTEND_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""

# Delete the key, but only if its value is still ARGV[1].
RELEASE_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class LockHolder:
    """The run that holds the fetch lock, when it took it and the seconds left."""

    run_id: int
    acquired_at: datetime
    ttl_seconds: float


def lock_cache():
    return caches[LOCK_CACHE_ALIAS]


def lock_key():
    """Return the cache key of the lock, before the cache adds its own prefix."""
    return f"{settings.NEWS_LOCK_PREFIX}:{LOCK_NAME}"


def acquire(run_id, ttl=None):
    """Take the lock for `run_id` if it is free, and return True if it was taken.

    Raises redis.exceptions.RedisError when Redis cannot be reached.
    """
    ttl = ttl or settings.NEWS_LOCK_TTL
    value = _encode(run_id, datetime.now(dt_timezone.utc))
    acquired = lock_cache().add(lock_key(), value, timeout=ttl)
    if acquired:
        logger.info("run %s took the fetch lock for %s s", run_id, ttl)
    return acquired


def extend(run_id, ttl=None):
    """Reset the lock's time to live if `run_id` still holds it, and return True if so."""
    ttl = ttl or settings.NEWS_LOCK_TTL
    return _run_if_owner(run_id, EXTEND_SCRIPT, int(ttl * 1000))


def release(run_id):
    """Delete the lock if `run_id` still holds it, and return True if it was deleted."""
    released = _run_if_owner(run_id, RELEASE_SCRIPT)
    if released:
        logger.info("run %s released the fetch lock", run_id)
    return released


def lock_holder():
    """Return the LockHolder of the lock, or None when the lock is free."""
    raw, ttl_ms = _read_raw()
    if raw is None:
        return None
    run_id, acquired_at = _decode(raw)
    # PTTL is -1 for a key without expiry, which `add` never creates.
    return LockHolder(run_id=run_id, acquired_at=acquired_at, ttl_seconds=max(ttl_ms, 0) / 1000)


def _run_if_owner(run_id, script, *args):
    """Run a compare-and-set script against the stored value if it names `run_id`.

    The value also carries the time the lock was taken, which the caller may
    not know, so the exact stored bytes are read first and then compared
    atomically inside Redis: a value replaced in between makes the script a no-op.
    """
    raw, _ttl_ms = _read_raw()
    if raw is None or _decode(raw)[0] != run_id:
        return False
    client, key = _client_and_key()
    return bool(client.eval(script, 1, key, raw, *args))


def _client_and_key():
    cache = lock_cache()
    key = cache.make_and_validate_key(lock_key())
    return cache._cache.get_client(key, write=True), key


def _read_raw():
    client, key = _client_and_key()
    with client.pipeline(transaction=True) as pipeline:
        pipeline.get(key)
        pipeline.pttl(key)
        raw, ttl_ms = pipeline.execute()
    return raw, ttl_ms


def _encode(run_id, acquired_at):
    return f"{run_id}@{acquired_at.timestamp():.6f}"


def _decode(raw):
    value = lock_cache()._cache._serializer.loads(raw)
    run_id, _, timestamp = str(value).partition("@")
    acquired_at = datetime.fromtimestamp(float(timestamp or 0), tz=dt_timezone.utc)
    return int(run_id), acquired_at
