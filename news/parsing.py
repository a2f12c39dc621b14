"""Parse downloaded bytes with feedparser and decide whether they are a feed."""

import re
from dataclasses import dataclass, field

import feedparser
from django.utils.translation import gettext_lazy as _

from news.download import FetchError
from news.entries import normalize_entry
from news.messages import Message, MessageList
from news.models import ErrorCode

# feedparser sets bozo for this when the HTTP charset and the XML declaration
# disagree. It still decodes correctly, so the flag is not worth a warning.
HARMLESS_BOZO = (feedparser.CharacterEncodingOverride,)

# Entity declarations in a DOCTYPE are how "billion laughs" expansion and
# external entities (file or network reads) get into XML. A DOCTYPE that
# declares entities is removed before feedparser gets the bytes, and
# references to the removed entities are then kept as literal text.
DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
DOCTYPE_TOKEN = re.compile(rb"\"[^\"]*\"|'[^']*'|<!--.*?-->|[\[\]>]", re.DOTALL)


@dataclass
class ParsedFeed:
    title: str
    version: str
    entries: list = field(default_factory=list)
    warnings: MessageList = field(default_factory=MessageList)


def parse_feed(content, *, url, content_type="", guid_scope=""):
    """Parse `content` (bytes) fetched from `url` and return a ParsedFeed.

    Raises FetchError(NOT_A_FEED) when the bytes are not RSS or Atom. A feed
    that feedparser recovers from malformed XML is returned with `warnings`
    instead of failing.
    """
    if not content.strip():
        message = Message(_("response from %(url)s is empty, not a feed"), {"url": url})
        raise FetchError(ErrorCode.NOT_A_FEED, message)
    content, removed_entities = remove_entity_declarations(content)

    # feedparser gets bytes and the Content-Type header, never a URL and
    # never decoded text, because it picks the encoding from the BOM, the
    # header and the XML declaration, which decoding first would throw away.
    # The feed URL is not passed as Content-Location, because feedparser
    # would then rewrite plain guids such as "42" into URLs. Relative links
    # are resolved in normalize_entry instead.
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(content, response_headers=headers)

    version = parsed.get("version") or ""
    if not version:
        raise FetchError(ErrorCode.NOT_A_FEED, _not_a_feed_message(url, content_type, content))

    warnings = MessageList()
    if removed_entities:
        warnings.append(
            Message(_("entity declarations in the DOCTYPE were removed, not expanded"))
        )
    if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), HARMLESS_BOZO):
        warnings.append(
            Message(
                _("feed is malformed but was read: %(error)s"),
                {"error": parsed.get("bozo_exception")},
            )
        )

    entries = [normalize_entry(entry, url, guid_scope) for entry in parsed.entries]
    feed_title = (parsed.get("feed") or {}).get("title", "")
    return ParsedFeed(title=feed_title, version=version, entries=entries, warnings=warnings)


def remove_entity_declarations(content):
    """Return `content` without a DOCTYPE that declares entities.

    The second value is True when something was removed. The scan works on
    ASCII-compatible encodings. In UTF-16 the DOCTYPE is kept, and expat's
    own limit on entity amplification (expat 2.4 and later) still applies.
    """
    start_match = DOCTYPE_START.search(content)
    if start_match is None:
        return content, False
    end = _doctype_end(content, start_match.start())
    if b"<!ENTITY" not in content[start_match.start() : end].upper():
        return content, False
    return content[: start_match.start()] + content[end:], True


def _doctype_end(content, start):
    """Return the index just past the DOCTYPE at `start`.

    Brackets and ">" inside quoted values and comments do not count.
    """
    depth = 0
    for token in DOCTYPE_TOKEN.finditer(content, start + len(b"<!DOCTYPE")):
        symbol = token.group(0)
        if symbol == b"[":
            depth += 1
        elif symbol == b"]":
            depth -= 1
        elif symbol == b">" and depth <= 0:
            return token.end()
    return len(content)


def _not_a_feed_message(url, content_type, content):
    head = content[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html")):
        return Message(_("response from %(url)s is HTML, not a feed"), {"url": url})
    if head.startswith(b"{") and b"jsonfeed.org" in head:
        # feedparser 6.0.14 reads only XML feeds.
        return Message(
            _(
                "response from %(url)s is a JSON Feed, which is not supported; "
                "use the site's RSS or Atom feed"
            ),
            {"url": url},
        )
    return Message(_("response from %(url)s is not an RSS or Atom feed"), {"url": url})
