"""Turn one feedparser entry into the plain values an Article stores."""

import calendar
import datetime
import email.utils
import hashlib
import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from news.google_news import decode_article_url
from news.models import Article

# Query parameters that track the reader and never change the article.
TRACKING_PARAMETERS = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|oc)$")
GOOGLE_NEWS_HOSTS = {"news.google.com"}
# ASCII whitespace only: a no-break space in a title is content and is kept.
WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")
# An RFC 822 date ends with a numeric offset or a zone name. Python's
# parsedate_tz reads a missing zone as UTC, so the zone is checked here.
RFC822_ZONE = re.compile(r"(?:[+-]\d{4}|\b(?:UT|UTC|GMT|Z|[ECMP][SD]T))\s*$", re.IGNORECASE)


@dataclass
class EntryData:
    identity: str
    guid: str
    title: str
    link: str
    publisher_name: str
    publisher_url: str
    summary: str
    published_at: datetime.datetime | None
    # The publisher's own article URL behind a Google News link, or "".
    original_url: str = ""

    # Fields copied onto an existing Article when they change.
    CONTENT_FIELDS = (
        "guid",
        "title",
        "link",
        "publisher_name",
        "publisher_url",
        "summary",
        "published_at",
        "original_url",
    )


def normalize_entry(entry, feed_url, guid_scope=""):
    """Return EntryData for a feedparser entry of the feed at `feed_url`."""
    guid = _text(entry.get("id"))
    link = _absolute_url(_text(entry.get("link")), feed_url)
    title = _plain_title(entry)
    publisher_name, publisher_url = _publisher(entry, link)
    title = strip_publisher_suffix(title, publisher_name)
    summary = html_to_text(entry.get("summary") or entry.get("description") or "")
    published_at = entry_published_at(entry)

    return EntryData(
        identity=entry_identity(guid_scope or _host(feed_url), guid, link, title, summary),
        guid=_truncate("guid", guid),
        title=_truncate("title", title),
        link=_truncate("link", link),
        publisher_name=_truncate("publisher_name", publisher_name),
        publisher_url=_truncate("publisher_url", publisher_url),
        summary=summary,
        published_at=published_at,
        original_url=_truncate("original_url", decode_article_url(link)),
    )


def entry_identity(scope, guid, link, title, summary):
    """Return the deduplication key described on Article.identity.

    `scope` is the host name that scopes the guid: the source's guid scope,
    or the feed's host for a source that has none.
    """
    if guid:
        parts = ("guid", scope.lower(), guid)
    elif link:
        parts = ("link", canonical_link(link), title)
    else:
        parts = ("text", title, summary)
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def canonical_link(link):
    """Return `link` without tracking parameters and fragment."""
    parts = urlsplit(link)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not TRACKING_PARAMETERS.match(name)
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path, urlencode(query), "")
    )


def strip_publisher_suffix(title, publisher):
    """Remove " - Publisher" from the end of a Google News title.

    The suffix can appear twice when the publisher's own headline already
    ends with its name, so it is removed while it is still there.
    """
    if not publisher:
        return title
    suffix = " - " + publisher
    while title.endswith(suffix) and len(title) > len(suffix):
        title = title[: -len(suffix)].rstrip()
    return title


def html_to_text(markup):
    """Return the visible text of an HTML fragment, whitespace collapsed."""
    if not markup:
        return ""
    if "<" not in markup:
        return WHITESPACE.sub(" ", html.unescape(markup)).strip()
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return WHITESPACE.sub(" ", "".join(extractor.parts)).strip()


def entry_published_at(entry):
    """Return the entry's publication time as an aware UTC datetime, or None.

    feedparser parses many date formats but guesses wrong on some (it reads
    "2016/6/29 15:07:41" as 2016-12-01), so its result is kept only when
    the raw text agrees with it. A date without a time zone is dropped
    rather than guessed.
    """
    for key in ("published", "updated"):
        # dict.get skips FeedParserDict's deprecated updated/published aliasing.
        raw = _text(dict.get(entry, key))
        if not raw:
            continue
        parsed = parse_date(raw, dict.get(entry, key + "_parsed"))
        if parsed is not None:
            return parsed
    return None


def parse_date(raw, feedparser_tuple=None):
    rfc822 = email.utils.parsedate_tz(raw)
    if rfc822 is not None:
        if not RFC822_ZONE.search(raw):
            return None
        timestamp = email.utils.mktime_tz(rfc822)
        return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    try:
        value = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is not None:
        if value.tzinfo is None:
            return None
        return value.astimezone(datetime.timezone.utc)
    if feedparser_tuple and _raw_agrees(raw, feedparser_tuple):
        timestamp = calendar.timegm(feedparser_tuple)
        return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)
    return None


def _raw_agrees(raw, parsed):
    numbers = {int(token) for token in re.findall(r"\d+", raw)}
    return parsed.tm_year in numbers and parsed.tm_mday in numbers


def _plain_title(entry):
    title = _text(entry.get("title"))
    detail = entry.get("title_detail") or {}
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return html_to_text(title)
    return WHITESPACE.sub(" ", title).strip()


def _publisher(entry, link):
    source = entry.get("source") or {}
    name = WHITESPACE.sub(" ", _text(source.get("title"))).strip()
    url = _text(source.get("href"))
    if name or url:
        return name, url
    if _host(link) in GOOGLE_NEWS_HOSTS:
        # Google News feeds from before the <source> element (2012 and
        # earlier) name the publisher only as the last " - " part of the
        # title, and put its article URL in the link's url= parameter.
        title = WHITESPACE.sub(" ", _text(entry.get("title"))).strip()
        if " - " in title:
            return title.rsplit(" - ", 1)[1].strip(), _site_of(_query_value(link, "url"))
    return "", ""


def _query_value(url, name):
    for key, value in parse_qsl(urlsplit(url).query):
        if key == name:
            return value
    return ""


def _site_of(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _absolute_url(url, base):
    if not url:
        return ""
    absolute = urljoin(base, url.strip())
    if urlsplit(absolute).scheme not in ("http", "https"):
        return ""
    return absolute


def _host(url):
    return (urlsplit(url).hostname or "").lower()


def _text(value):
    return value.strip() if isinstance(value, str) else ""


def _truncate(field_name, value):
    max_length = Article._meta.get_field(field_name).max_length
    return value[:max_length]


class _TextExtractor(HTMLParser):
    SKIPPED = {"script", "style"}
    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in self.SKIPPED and self.skipping:
            self.skipping -= 1
        elif tag in self.BREAKS:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)
