"""Find the publisher's own URL behind Google News article links.

Older article ids contain the URL and are decoded offline in
news.google_news. Newer ids do not, and the only way to learn the URL is to
request it from Google's redirecting endpoint. These lookups are off by
default (NEWS_RESOLVE_GOOGLE_LINKS). When on, they are limited to
NEWS_RESOLVE_MAX_PER_FETCH requests per source fetch, spaced
NEWS_RESOLVE_INTERVAL seconds apart, and each is bounded by
NEWS_RESOLVE_TIMEOUT. A failed lookup leaves the original URL empty and
never fails the entry.
"""

import logging
import time
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from news import google_news, hosts
from news.download import (
    ACCEPT,
    Client,
    Deadline,
    FetchError,
    Limits,
    parse_retry_after,
    user_agent,
)
from news.models import Article

logger = logging.getLogger(__name__)


def fill_original_urls(entries):
    """Set `original_url` on Google News entries that offline decoding left empty.

    Entries already stored keep the URL resolved earlier. The rest are
    resolved over the network only when NEWS_RESOLVE_GOOGLE_LINKS is on.
    Returns the number of requests sent.
    """
    pending = [
        entry for entry in entries if not entry.original_url and google_news.article_id(entry.link)
    ]
    if not pending:
        return 0
    known = dict(
        Article.objects.filter(identity__in=[entry.identity for entry in pending])
        .exclude(original_url="")
        .values_list("identity", "original_url")
    )
    for entry in pending:
        entry.original_url = known.get(entry.identity, "")

    if not settings.NEWS_RESOLVE_GOOGLE_LINKS:
        return 0
    unresolved = [entry for entry in pending if not entry.original_url]
    requests_sent = 0
    for entry in unresolved[: settings.NEWS_RESOLVE_MAX_PER_FETCH]:
        endpoint = endpoint_url(entry.link)
        if hosts.wait_until(endpoint) is not None:
            logger.info(
                "not resolving Google News links: %s requested a wait", hosts.host_of(endpoint)
            )
            break
        if requests_sent:
            time.sleep(settings.NEWS_RESOLVE_INTERVAL)
        requests_sent += 1
        entry.original_url = resolve(entry.link)[:2000]
    return requests_sent


def endpoint_url(link):
    """Return the address that resolves `link` at NEWS_RESOLVE_ENDPOINT."""
    base = settings.NEWS_RESOLVE_ENDPOINT.rstrip("/") + "/"
    return urljoin(base, "rss/articles/" + google_news.article_id(link))


def resolve(link):
    """Return the URL that Google's endpoint redirects `link` to, or "" on any failure."""
    url = endpoint_url(link)
    timeout = settings.NEWS_RESOLVE_TIMEOUT
    limits = replace(
        Limits.from_settings(), connect_timeout=timeout, read_timeout=timeout, deadline=timeout
    )
    headers = {"User-Agent": user_agent(), "Accept": ACCEPT}
    try:
        with Client(limits, Deadline(timeout)) as client, client.open(url, headers) as exchange:
            status = exchange.status
            location = exchange.headers.get("location", "")
            retry_after = exchange.headers.get("retry-after")
    except FetchError as exc:
        logger.info(
            "could not resolve Google News link %s: %s: %s", link, exc.code, exc.message.english()
        )
        return ""

    if status in (301, 302, 303, 307, 308) and location:
        target = urljoin(url, location.strip())
        parts = urlsplit(target)
        endpoint_host = urlsplit(url).hostname
        if parts.scheme in ("http", "https") and parts.hostname not in (
            google_news.HOST,
            endpoint_host,
        ):
            return target
    elif status in (429, 503):
        hosts.record_wait(url, status, parse_retry_after(retry_after))
    logger.info("Google News link %s was not resolved: HTTP %s from %s", link, status, url)
    return ""
