"""Per-host waits after a server requests that the fetcher slow down.

A 429, or a 503 with Retry-After, makes every source on that host wait until
the time the server gave. Every Google News source shares one host, so one
429 pauses all of them. The wait is kept in the Django cache (Redis), so all
workers and runs see it, and it expires by itself. When the cache cannot be
reached, the waits are skipped with a logged warning rather than failing
the fetch.
"""

import logging
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "news:host-wait:"
# Used for a 429 that does not say how long to wait.
DEFAULT_WAIT = 60


def host_of(url):
    """Return the host and port that a wait applies to, for example "example.com:443"."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        # An invalid port: the download rejects the URL as invalid_url, and
        # the other sources of the run must still be grouped and fetched.
        port = "invalid"
    return f"{(parts.hostname or '').lower()}:{port}"


def wait_until(url):
    """Return the Unix time until which `url`'s host must not be contacted, or None."""
    try:
        until = cache.get(KEY_PREFIX + host_of(url))
    except RedisError as exc:
        logger.warning("could not read the wait of host %s from the cache: %s", host_of(url), exc)
        return None
    if until is None or until <= time.time():
        return None
    return until


def record_wait(url, status, retry_after):
    """Make every source on `url`'s host wait after `status`; return the seconds.

    Returns None for a status that needs no wait, because a 503 without
    Retry-After is an ordinary server error.
    """
    if status == 429:
        seconds = retry_after if retry_after is not None else DEFAULT_WAIT
    elif status == 503 and retry_after is not None:
        seconds = retry_after
    else:
        return None
    seconds = min(max(seconds, 1), settings.NEWS_HOST_MAX_WAIT)
    host = host_of(url)
    try:
        cache.set(KEY_PREFIX + host, time.time() + seconds, timeout=seconds)
    except RedisError as exc:
        logger.warning("could not store the wait of host %s in the cache: %s", host, exc)
    logger.warning("host %s sent HTTP %s: no request to it for %d s", host, status, seconds)
    return seconds


def clear_wait(url):
    try:
        cache.delete(KEY_PREFIX + host_of(url))
    except RedisError as exc:
        logger.warning("could not clear the wait of host %s in the cache: %s", host_of(url), exc)
