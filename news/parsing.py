"""Parse downloaded bytes with feedparser and decide whether they are a feed."""

from dataclasses import dataclass, field

import feedparser

from news.download import FetchError
from news.entries import normalize_entry
from news.models import ErrorCode

# feedparser sets bozo for this when the HTTP charset and the XML declaration
# disagree; it then decodes correctly anyway, so it is not worth a warning.
HARMLESS_BOZO = (feedparser.CharacterEncodingOverride,)


@dataclass
class ParsedFeed:
    title: str
    version: str
    entries: list = field(default_factory=list)
    warning: str = ""


def parse_feed(content, *, url, content_type=""):
    """Parse `content` (bytes) fetched from `url` and return a ParsedFeed.

    Raises FetchError(NOT_A_FEED) when the bytes are not RSS or Atom. A feed
    that feedparser recovers from malformed XML is returned with `warning`
    set instead of failing.
    """
    if not content.strip():
        raise FetchError(ErrorCode.NOT_A_FEED, f"response from {url} is empty, not a feed")

    # feedparser gets bytes and the Content-Type header, never a URL and
    # never decoded text: it picks the encoding from the BOM, the header and
    # the XML declaration, which decoding first would throw away. The feed
    # URL is not passed as Content-Location because feedparser would then
    # rewrite plain guids such as "42" into URLs; relative links are resolved
    # in normalize_entry instead.
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(content, response_headers=headers)

    version = parsed.get("version") or ""
    if not version:
        raise FetchError(ErrorCode.NOT_A_FEED, _not_a_feed_message(url, content_type, content))

    warning = ""
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), HARMLESS_BOZO):
        warning = f"feed is malformed but was read: {parsed.get('bozo_exception')}"

    entries = [normalize_entry(entry, url) for entry in parsed.entries]
    feed_title = (parsed.get("feed") or {}).get("title", "")
    return ParsedFeed(title=feed_title, version=version, entries=entries, warning=warning)


def _not_a_feed_message(url, content_type, content):
    head = content[:512].lstrip().lower()
    if "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html")):
        return f"response from {url} is HTML, not a feed"
    return f"response from {url} is not an RSS or Atom feed"
