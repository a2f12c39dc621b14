"""End-to-end conformance over the shared feed captures and their manifest.

Each file listed in MANIFEST.tsv is served over HTTP, added with add_source
and fetched with fetch_news; the stored result must match the facts the
manifest lists for a correct parser (entry count, first title, malformed).
"""

import csv
import html

import pytest
from django.core.management import CommandError, call_command

from news.entries import html_to_text
from news.models import Article, ErrorCode, Source, SourceResult
from tests.conftest import shared_feeds_dir

FEEDS_DIR = shared_feeds_dir()
MANIFEST = FEEDS_DIR / "MANIFEST.tsv"

pytestmark = pytest.mark.skipif(
    not MANIFEST.exists(), reason=f"shared feed captures not found at {FEEDS_DIR}"
)


def parse_observed(text):
    """Return the facts feedparser reported, with chardet installed.

    The column reads "no chardet: k=v; k=v || with chardet 7.7.0 installed:
    k=v" (or "same result ..."); chardet is a dependency of this project, so
    the second part overrides the first.
    """
    facts = {}
    for part in text.split(" || "):
        _, _, pairs = part.partition(": ")
        if part.startswith("same result"):
            continue
        for pair in pairs.split("; "):
            key, separator, value = pair.partition("=")
            if separator:
                facts[key.strip()] = value
    return facts


def manifest_rows():
    if not MANIFEST.exists():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def as_params(rows):
    return [pytest.param(row, id=row["file"]) for row in rows]


def fetch_file(feed_server, relative_path):
    url = feed_server.add_file("/" + relative_path, FEEDS_DIR / relative_path)
    name = relative_path.replace("/", "_")
    call_command("add_source", url, "--name", name, verbosity=0)
    try:
        call_command("fetch_news", "--source", name, verbosity=0)
    except CommandError:
        pass  # a source that is not a feed fails the command; checked below
    source = Source.objects.get(name=name)
    return source, source.results.get()


@pytest.mark.parametrize("row", as_params(manifest_rows()))
def test_manifest_facts_hold_end_to_end(row, feed_server, db):
    facts = parse_observed(row["observed_feedparser_6.0.14"])
    source, result = fetch_file(feed_server, row["file"])

    if facts["version"] == "(none)":
        assert result.status == SourceResult.Status.FAILED
        assert result.error_code == ErrorCode.NOT_A_FEED
        assert not source.articles.exists()
        return

    assert result.status == SourceResult.Status.SUCCEEDED, result.error_message
    assert source.articles.count() == int(facts["entries"])

    malformed = facts["bozo"].startswith("1") and "CharacterEncodingOverride" not in facts["bozo"]
    assert bool(result.warning) is malformed, result.warning

    first_title = facts["first_title"]
    if first_title != "(none)":
        expected = html_to_text(html.unescape(first_title)) if "<" in first_title else first_title
        stored = {
            article.title + (f" - {article.publisher_name}" if row["file"].startswith("google-news/") else "")
            for article in source.articles.all()
        }
        assert expected in stored


@pytest.mark.parametrize(
    "row", as_params(row for row in manifest_rows() if row["file"].startswith("google-news/"))
)
def test_google_news_titles_have_publisher_split_off(row, feed_server, db):
    source, _ = fetch_file(feed_server, row["file"])
    for article in source.articles.all():
        assert article.publisher_name, article.title
        assert not article.title.endswith(" - " + article.publisher_name), article.title


def test_second_fetch_of_every_capture_creates_nothing(feed_server, db):
    for row in manifest_rows():
        fetch_file(feed_server, row["file"])
    before = Article.objects.count()
    try:
        call_command("fetch_news", verbosity=0)
    except CommandError:
        pass
    assert Article.objects.count() == before
