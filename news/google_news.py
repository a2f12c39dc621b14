"""Build Google News RSS feed URLs from their query parts.

Google does not document these feeds; the shapes below are the ones its own
pages link to:

    top stories  https://news.google.com/rss?hl=..&gl=..&ceid=..
    topic        https://news.google.com/rss/headlines/section/topic/BUSINESS?..
    topic id     https://news.google.com/rss/topics/<id>?..
    location     https://news.google.com/rss/headlines/section/geo/<place>?..
    search       https://news.google.com/rss/search?q=<query>+when:1d&..
"""

import base64
import binascii
import datetime
import re
from urllib.parse import quote, urlencode, urlsplit

from django.utils.translation import gettext as _

BASE_URL = "https://news.google.com/rss"
DEFAULT_HL = "zh-TW"
DEFAULT_GL = "TW"
DEFAULT_CEID = "TW:zh-Hant"

# Named sections that /headlines/section/topic/ accepts.
SECTIONS = (
    "WORLD",
    "NATION",
    "BUSINESS",
    "TECHNOLOGY",
    "ENTERTAINMENT",
    "SPORTS",
    "SCIENCE",
    "HEALTH",
)

# `when:` takes a count and a unit: hours, days, months or years.
WHEN_PATTERN = re.compile(r"^[1-9][0-9]{0,3}[hdmy]$")
# A topic id is URL-safe base64, as Google's topic pages use.
TOPIC_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{10,200}$")
HOST = "news.google.com"
# Article links look like https://news.google.com/rss/articles/<id>?oc=5.
ARTICLE_PATH = re.compile(r"^(?:/rss)?/articles/([A-Za-z0-9_-]+)$")
# Ids since July 2024 carry this opaque token instead of the publisher URL.
OPAQUE_ID_PREFIX = b"AU_yqL"


class InvalidGoogleNewsQuery(ValueError):
    """The query parts cannot form a Google News feed URL."""


def build_url(
    mode="top",
    *,
    topic="",
    query="",
    when="",
    after=None,
    before=None,
    hl=DEFAULT_HL,
    gl=DEFAULT_GL,
    ceid=DEFAULT_CEID,
):
    """Return the feed URL for the given parts.

    Raises InvalidGoogleNewsQuery with a message that names the bad part.
    """
    params = {"hl": hl, "gl": gl, "ceid": ceid}
    for name, value in params.items():
        if not value or not re.match(r"^[A-Za-z0-9:_-]+$", value):
            raise InvalidGoogleNewsQuery(
                _(
                    "%(name)s=%(value)r is not a valid language or region code "
                    "(for example hl=zh-TW, gl=TW, ceid=TW:zh-Hant)."
                )
                % {"name": name, "value": value}
            )
    if when and mode != "search":
        raise InvalidGoogleNewsQuery(_("A time window (when) applies only to searches."))

    if mode == "top":
        path = ""
    elif mode == "topic":
        path = _topic_path(topic)
    elif mode == "geo":
        if not query.strip():
            raise InvalidGoogleNewsQuery(_("A location feed needs a place name."))
        path = "/headlines/section/geo/" + quote(query.strip(), safe="")
    elif mode == "search":
        params = {"q": _search_terms(query, when, after, before), **params}
        path = "/search"
    else:
        raise InvalidGoogleNewsQuery(
            _("Unknown Google News feed %(mode)r. Use top, topic, geo or search.")
            % {"mode": mode}
        )
    return f"{BASE_URL}{path}?{urlencode(params, quote_via=quote, safe=':')}"


def _topic_path(topic):
    topic = topic.strip()
    if topic.upper() in SECTIONS:
        return "/headlines/section/topic/" + topic.upper()
    if TOPIC_ID_PATTERN.match(topic):
        return "/topics/" + topic
    raise InvalidGoogleNewsQuery(
        _(
            "Unknown topic %(topic)r. Use one of %(sections)s "
            "or a topic id copied from a Google News topic URL."
        )
        % {"topic": topic, "sections": ", ".join(SECTIONS)}
    )


def _search_terms(query, when, after, before):
    terms = query.strip()
    if not terms:
        raise InvalidGoogleNewsQuery(_("A search feed needs a query."))
    if when:
        if not WHEN_PATTERN.match(when):
            raise InvalidGoogleNewsQuery(
                _(
                    "Time window %(when)r is invalid. Use a number and a unit "
                    "h, d, m or y, for example 1h, 1d or 7d."
                )
                % {"when": when}
            )
        terms += f" when:{when}"
    for operator, day in (("after", after), ("before", before)):
        if day is None:
            continue
        if not isinstance(day, datetime.date):
            raise InvalidGoogleNewsQuery(
                _("%(operator)s must be a date, not %(value)r.")
                % {"operator": operator, "value": day}
            )
        terms += f" {operator}:{day.isoformat()}"
    return terms


def article_id(link):
    """Return the article id of a Google News article link, or "" for other links."""
    parts = urlsplit(link)
    if (parts.hostname or "").lower() != HOST:
        return ""
    match = ARTICLE_PATH.match(parts.path)
    return match.group(1) if match else ""


def decode_article_url(link):
    """Return the publisher URL stored inside an older Google News article id.

    Older ids are URL-safe base64 of a small protobuf message whose field 4
    is the publisher URL. Ids issued since July 2024 contain an opaque token
    (starting "AU_yqL") instead, so they return "" here. news.resolve can
    look those up over the network when NEWS_RESOLVE_GOOGLE_LINKS is on.
    """
    identifier = article_id(link)
    if not identifier:
        return ""
    try:
        payload = base64.urlsafe_b64decode(identifier + "=" * (-len(identifier) % 4))
    except (binascii.Error, ValueError):
        return ""
    # Field 1 (varint) comes first, then field 4 (tag 0x22) with its length.
    if not payload.startswith(b"\x08\x13\x22"):
        return ""
    length, offset = _read_varint(payload, 3)
    if length is None:
        return ""
    value = payload[offset : offset + length]
    if value.startswith(OPAQUE_ID_PREFIX):
        return ""
    try:
        url = value.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return url if url.startswith(("http://", "https://")) else ""


def _read_varint(data, offset):
    value = 0
    shift = 0
    while offset < len(data) and shift < 35:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
    return None, offset
