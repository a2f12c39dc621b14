"""Publisher URLs behind Google News links: offline decoding and the optional lookup."""

import base64

import pytest

from news.fetching import create_run, run_fetch
from news.google_news import decode_article_url
from news.models import Article, FetchRun
from tests import faults
from tests.feedserver import rss

OLD_ID = (
    "CBMiU2h0dHBzOi8vd3d3Lndhc2hpbmd0b25wb3N0LmNvbS93b3JsZC8yMDIzLzA0LzIzL2Jha2htdXQtZGVz"
    "dHJveWVkLWNpdHktdWtyYWluZS13YXIv0gEA"
)
OLD_ID_URL = "https://www.washingtonpost.com/world/2023/04/23/bakhmut-destroyed-city-ukraine-war/"
PUBLISHER = '<source url="https://www.washingtonpost.com">The Washington Post</source>'


def new_style_id(number):
    """Return an id in the format used since July 2024, which hides the URL."""
    token = b"AU_yqLP8ve" + f"{number:06d}".encode() * 34
    payload = b"\x08\x13\x22" + bytes([0xD8, 0x01]) + token[:216]
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def gn_link(article_id, query="?oc=5"):
    return f"https://news.google.com/rss/articles/{article_id}{query}"


def gn_item(title, article_id, query="?oc=5"):
    link = gn_link(article_id, query)
    return f"<title>{title} - The Washington Post</title><link>{link}</link>{PUBLISHER}"


@pytest.fixture
def resolver(feed_server, settings):
    """Google's redirecting endpoint, played by the feed server."""
    settings.NEWS_RESOLVE_ENDPOINT = feed_server.url("/")
    return feed_server


def resolver_hits(server):
    return sum(1 for request in server.requests if request["path"].startswith("/rss/articles/"))


def fetch_feed(feed_server, make_source, *items, path="/gn.xml"):
    source = make_source(feed_server.add(path, rss(*items)), name=path)
    return run_fetch(create_run(FetchRun.Trigger.COMMAND, sources=[source]))


def test_old_style_id_decodes_offline():
    assert decode_article_url(gn_link(OLD_ID)) == OLD_ID_URL


def test_new_style_id_does_not_decode_offline():
    assert decode_article_url(gn_link(new_style_id(1))) == ""


def test_link_of_another_host_does_not_decode():
    assert decode_article_url(f"https://example.com/rss/articles/{OLD_ID}") == ""


def test_google_links_stored_without_requests_by_default(resolver, make_source):
    run = fetch_feed(
        resolver, make_source, gn_item("巴赫姆特", OLD_ID), gn_item("新格式", new_style_id(1))
    )
    old = Article.objects.get(link=gn_link(OLD_ID))
    new = Article.objects.get(link=gn_link(new_style_id(1)))
    assert run.status == FetchRun.Status.SUCCEEDED
    assert (old.original_url, new.original_url) == (OLD_ID_URL, "")
    assert {old.publisher_url, new.publisher_url} == {"https://www.washingtonpost.com"}
    assert resolver_hits(resolver) == 0


def test_identity_ignores_oc_parameter(resolver, make_source):
    fetch_feed(resolver, make_source, gn_item("巴赫姆特", OLD_ID))
    run = fetch_feed(resolver, make_source, gn_item("巴赫姆特", OLD_ID, query=""), path="/gn2.xml")
    assert run.articles_created == 0


@pytest.fixture
def resolution_on(settings):
    settings.NEWS_RESOLVE_GOOGLE_LINKS = True
    settings.NEWS_RESOLVE_TIMEOUT = 0.5


@pytest.mark.usefixtures("resolution_on")
def test_new_style_id_is_resolved_by_redirect(resolver, make_source):
    article_id = new_style_id(1)
    target = "https://www.washingtonpost.com/world/2024/07/24/publisher-article/"
    resolver.add(f"/rss/articles/{article_id}", b"", status=302, headers={"Location": target})
    fetch_feed(resolver, make_source, gn_item("巴赫姆特", OLD_ID), gn_item("新格式", article_id))
    assert Article.objects.get(link=gn_link(article_id)).original_url == target
    # The old-style id was decoded offline, so only one request was sent.
    assert resolver_hits(resolver) == 1


@pytest.mark.usefixtures("resolution_on")
def test_resolution_is_limited_per_fetch(resolver, make_source, settings):
    settings.NEWS_RESOLVE_MAX_PER_FETCH = 2
    items = [gn_item(f"新聞 {number}", new_style_id(number)) for number in range(5)]
    for number in range(5):
        resolver.add(
            f"/rss/articles/{new_style_id(number)}",
            b"",
            status=302,
            headers={"Location": f"https://publisher.example/{number}"},
        )
    run = fetch_feed(resolver, make_source, *items)
    assert run.articles_created == 5
    assert resolver_hits(resolver) == 2


@pytest.mark.usefixtures("resolution_on")
def test_resolved_url_is_not_requested_again(resolver, make_source):
    article_id = new_style_id(1)
    resolver.add(
        f"/rss/articles/{article_id}",
        b"",
        status=302,
        headers={"Location": "https://publisher.example/a"},
    )
    fetch_feed(resolver, make_source, gn_item("新格式", article_id))
    run = fetch_feed(resolver, make_source, gn_item("新格式", article_id), path="/again.xml")
    assert resolver_hits(resolver) == 1
    assert run.articles_updated == 0
    assert Article.objects.get().original_url == "https://publisher.example/a"


@pytest.mark.usefixtures("resolution_on")
@pytest.mark.parametrize(
    "answer",
    [
        faults.sequence(faults.respond(500)),
        faults.sequence(faults.respond(200, b"<html>consent page</html>")),
        faults.sequence(faults.respond(302, b"", {"Location": "https://news.google.com/other"})),
        faults.stall(3),
    ],
    ids=["server-error", "no-redirect", "redirect-to-google", "stall"],
)
def test_failed_resolution_keeps_entry(resolver, make_source, answer):
    article_id = new_style_id(1)
    resolver.add_handler(f"/rss/articles/{article_id}", answer)
    run = fetch_feed(resolver, make_source, gn_item("新格式", article_id))
    assert run.status == FetchRun.Status.SUCCEEDED
    assert Article.objects.get().original_url == ""


@pytest.mark.usefixtures("resolution_on")
def test_rate_limited_resolver_stops_lookups(resolver, make_source):
    items = [gn_item(f"新聞 {number}", new_style_id(number)) for number in range(3)]
    for number in range(3):
        resolver.add(
            f"/rss/articles/{new_style_id(number)}", b"", status=429, headers={"Retry-After": "60"}
        )
    run = fetch_feed(resolver, make_source, *items)
    assert run.status == FetchRun.Status.SUCCEEDED
    assert resolver_hits(resolver) == 1
