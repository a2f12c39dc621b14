"""Create sources, checking them the same way for every entry point."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from news import google_news
from news.models import Source

# Google News Taiwan in Traditional Chinese: top stories and a few sections.
DEFAULT_SOURCES = [
    {"name": "Google 新聞：焦點新聞", "mode": "top"},
    {"name": "Google 新聞：台灣", "mode": "topic", "topic": "NATION"},
    {"name": "Google 新聞：國際", "mode": "topic", "topic": "WORLD"},
    {"name": "Google 新聞：商業", "mode": "topic", "topic": "BUSINESS"},
    {"name": "Google 新聞：科技", "mode": "topic", "topic": "TECHNOLOGY"},
]


# The Google News URL grows with these parts, so a too-long URL names them.
GOOGLE_NEWS_URL_PARTS = ("gn_query", "gn_topic")


NO_ENABLED_SOURCES_MESSAGE = gettext_lazy(
    "No source is enabled, so the run fetched nothing. Add one with add_source or "
    "enable one on the admin's source list (make demo's sources stay disabled: run "
    "make demo again to fetch them)."
)


class SourceError(ValueError):
    """A source cannot be added. The message states why and what to do.

    `field` names the Source field at fault, or is None when no single field is.
    """

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def add_feed_source(url, name=""):
    url = canonical_feed_url(url.strip())
    validate_feed_url(url)
    return _create(Source(kind=Source.Kind.FEED, url=url, name=name.strip() or _name_from_url(url)))


def add_google_news_source(
    *, name="", mode="top", topic="", query="", when="", hl="", gl="", ceid=""
):
    source = Source(
        kind=Source.Kind.GOOGLE_NEWS,
        gn_mode=mode,
        gn_topic=topic,
        gn_query=query,
        gn_when=when,
        gn_hl=hl or google_news.DEFAULT_HL,
        gn_gl=gl or google_news.DEFAULT_GL,
        gn_ceid=ceid or google_news.DEFAULT_CEID,
    )
    try:
        source.url = source.build_google_news_url()
    except google_news.InvalidGoogleNewsQuery as exc:
        raise SourceError(str(exc)) from None
    source.name = name.strip() or _google_news_name(source)
    return _create(source)


def add_default_sources():
    """Add the default Google News sources that are missing; return those added."""
    added = []
    for spec in DEFAULT_SOURCES:
        parts = {key: value for key, value in spec.items() if key != "name"}
        url = google_news.build_url(**parts)
        if Source.objects.filter(url=url).exists() or Source.objects.filter(name=spec["name"]).exists():
            continue
        added.append(add_google_news_source(**spec))
    return added


def validate_feed_url(url):
    try:
        URLValidator(schemes=["http", "https"])(url)
        # URLValidator accepts any number of port digits.
        urlsplit(url).port
    except (ValidationError, ValueError):
        raise SourceError(
            _("%(url)r is not a valid feed URL. Give a full http:// or https:// address.")
            % {"url": url},
            field="url",
        ) from None


DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_feed_url(url):
    """Return `url` in the one spelling that the duplicate check compares.

    The scheme and host are case-insensitive, so they are lower-cased; a
    trailing dot after the host, the scheme's default port and the fragment
    name the same resource, so they are dropped. The path and query keep
    their case, because servers may treat them as case-sensitive. A URL that
    cannot be split is returned unchanged for validate_feed_url() to reject.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    userinfo, at, host_and_port = parts.netloc.rpartition("@")
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{userinfo}{at}{host}"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return parts._replace(scheme=scheme, netloc=netloc, fragment="").geturl()


def validate_lengths(source):
    """Raise SourceError when a value of `source` is longer than its column's max_length.

    A Google News URL is built from the query parts, so when it is too long
    the error names the search query or topic, the parts that make it grow.
    """
    for field in Source._meta.concrete_fields:
        limit = field.max_length
        value = getattr(source, field.attname)
        if limit is None or not isinstance(value, str) or len(value) <= limit:
            continue
        if field.name == "url" and source.kind == Source.Kind.GOOGLE_NEWS:
            raise SourceError(
                _(
                    "The Google News URL built from these parts is %(length)d characters "
                    "long, but at most %(limit)d fit. Shorten the search query or topic id."
                )
                % {"length": len(value), "limit": limit},
                field=_longest_url_part(source),
            )
        raise SourceError(
            _("%(field)s is %(length)d characters long, but at most %(limit)d fit. Shorten it.")
            % {"field": field.verbose_name, "length": len(value), "limit": limit},
            field=field.name,
        )


def _longest_url_part(source):
    return max(GOOGLE_NEWS_URL_PARTS, key=lambda name: len(getattr(source, name)))


def _create(source):
    validate_lengths(source)
    duplicate = Source.objects.filter(url=source.url).first()
    if duplicate is not None:
        raise SourceError(
            _("A source with this URL already exists: %(name)s (id %(id)s).")
            % {"name": duplicate.name, "id": duplicate.pk}
        )
    if Source.objects.filter(name=source.name).exists():
        raise SourceError(
            _("A source named %(name)r already exists. Choose another name with --name.")
            % {"name": source.name}
        )
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        raise SourceError(
            _("A source with this name or URL was added at the same time. Try again.")
        ) from None
    return source


def _name_from_url(url):
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path}".rstrip("/")[:200]


def _google_news_name(source):
    label = {
        "top": _("Top stories"),
        "topic": source.gn_topic,
        "geo": source.gn_query,
        "search": source.gn_query,
    }.get(source.gn_mode, "")
    if source.gn_when:
        label = _("%(label)s (past %(when)s)") % {"label": label, "when": source.gn_when}
    name = _("Google News %(edition)s: %(label)s") % {"edition": source.gn_ceid, "label": label}
    return name[:200]
