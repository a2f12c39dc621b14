"""Filter and order articles for the reading page and the articles API."""

import datetime
import re
from dataclasses import dataclass

from django.db.models import Prefetch, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from news.models import Article, Source

PAGE_SIZE = 50
# ASCII digits only: str.isdigit() also accepts "²" and "①", which int() rejects.
SOURCE_ID_PATTERN = re.compile(r"[0-9]{1,18}")


class InvalidArticleQuery(ValueError):
    """A query parameter is invalid. The message names it and the expected form."""


@dataclass(frozen=True)
class ArticleQuery:
    source_id: int | None = None
    text: str = ""
    since: datetime.datetime | None = None

    @classmethod
    def from_params(cls, params):
        """Read `source`, `q` and `since` from a QueryDict, raising InvalidArticleQuery."""
        return cls(
            source_id=_parse_source(params.get("source", "")),
            text=_parse_text(params.get("q", "")),
            since=_parse_since(params.get("since", "")),
        )


def search_articles(query):
    """Return the articles matching `query`, newest first, with their sources loaded.

    An article without a publication date is placed by the time it was first
    stored, so it neither sinks to the end nor floats to the top.
    """
    articles = Article.objects.annotate(
        shown_at=Coalesce("published_at", "first_seen_at")
    ).prefetch_related(Prefetch("sources", queryset=Source.objects.only("id", "name")))
    if query.source_id is not None:
        articles = articles.filter(sources__id=query.source_id)
    if query.text:
        articles = articles.filter(
            Q(title__icontains=query.text)
            | Q(summary__icontains=query.text)
            | Q(publisher_name__icontains=query.text)
        )
    if query.since is not None:
        articles = articles.filter(first_seen_at__gte=query.since)
    return articles.order_by("-shown_at", "-id")


def _parse_source(raw):
    raw = raw.strip()
    if not raw:
        return None
    if not SOURCE_ID_PATTERN.fullmatch(raw):
        raise InvalidArticleQuery(
            _("source=%(value)s is invalid: give the numeric id of a source.") % {"value": raw}
        )
    return int(raw)


def _parse_text(raw):
    if "\x00" in raw:
        # PostgreSQL text cannot hold NUL, and no stored article contains one.
        raise InvalidArticleQuery(
            _("q contains a NUL character: remove it from the search text.")
        )
    return raw.strip()


def _parse_since(raw):
    """Read an ISO 8601 date or date-time, in the current time zone unless it has an offset."""
    raw = raw.strip()
    if not raw:
        return None
    if len(raw) > 6 and raw[-6] == " " and raw[-3] == ":":
        # An unencoded "+08:00" in a query string arrives as " 08:00".
        raw = raw[:-6] + "+" + raw[-5:]
    try:
        value = parse_datetime(raw)
        if value is None:
            day = parse_date(raw)
            value = datetime.datetime.combine(day, datetime.time()) if day else None
    except ValueError:
        value = None
    if value is None:
        raise InvalidArticleQuery(
            _(
                "since=%(value)s is invalid: give an ISO 8601 date or date-time, "
                "for example 2026-12-04 or 2026-12-04T08:00:00+08:00."
            )
            % {"value": raw}
        )
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    try:
        # The databases store UTC, so the value must also exist in UTC.
        value.astimezone(datetime.timezone.utc)
    except OverflowError:
        raise InvalidArticleQuery(
            _("since=%(value)s is out of range: give a date from 0001-01-02 to 9999-12-30.")
            % {"value": raw}
        ) from None
    return value
