"""Create sources, checking them the same way for every entry point."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

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


class SourceError(ValueError):
    """A source cannot be added; the message says why and what to do."""


def add_feed_source(url, name=""):
    url = url.strip()
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
    except ValidationError:
        raise SourceError(
            _("%(url)r is not a valid feed URL. Give a full http:// or https:// address.")
            % {"url": url}
        ) from None


def _create(source):
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
        label = f"{label} ({source.gn_when})"
    return f"Google News {source.gn_ceid}: {label}"[:200]
