"""Source URLs that pass the checks must not break a fetch or duplicate another source."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from news.fetching import create_run, run_fetch
from news.models import Article, ErrorCode, FetchRun, Source
from tests.feedserver import item, rss

pytestmark = pytest.mark.usefixtures("english")

OUT_OF_RANGE_PORT_URL = "http://127.0.0.1:99999/feed.xml"


def run_command(*args):
    out = StringIO()
    with translation.override("en"):
        call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def good_and_bad_port_sources(transactional_db, feed_server, make_source):
    # Two hosts are fetched on pool threads with their own connections, so
    # the rows must be committed for them to see.
    url = feed_server.add("/news.xml", rss(item("p1", "台北捷運新路線通車")))
    good = make_source(url, name="正常來源")
    bad = make_source(OUT_OF_RANGE_PORT_URL, name="錯誤連接埠")
    return good, bad


def test_out_of_range_port_leaves_other_sources_fetched(good_and_bad_port_sources):
    good, bad = good_and_bad_port_sources
    run = run_fetch(create_run(FetchRun.Trigger.COMMAND))
    assert run.results.filter(source=good).exists()
    assert Article.objects.filter(guid="p1").exists()


def test_out_of_range_port_fails_only_its_source(good_and_bad_port_sources):
    good, bad = good_and_bad_port_sources
    run = run_fetch(create_run(FetchRun.Trigger.COMMAND))
    assert run.status == FetchRun.Status.PARTIALLY_FAILED
    assert run.results.get(source=bad).error_code == ErrorCode.INVALID_URL


def test_add_source_rejects_out_of_range_port(db):
    with pytest.raises(CommandError) as raised:
        run_command("add_source", OUT_OF_RANGE_PORT_URL, "--name", "錯誤連接埠")
    assert raised.value.returncode == 2
    assert not Source.objects.exists()


@pytest.mark.parametrize(
    "same_feed",
    [
        "https://example.com:443/feed.xml",
        "https://example.com/feed.xml#頭條",
        "https://example.com./feed.xml",
    ],
    ids=["default-port", "fragment", "trailing-dot"],
)
def test_add_source_rejects_same_feed_written_differently(db, same_feed):
    run_command("add_source", "https://example.com/feed.xml", "--name", "範例")
    with pytest.raises(CommandError) as raised:
        run_command("add_source", same_feed, "--name", "範例二")
    assert raised.value.returncode == 2
    assert Source.objects.count() == 1


def test_add_source_rejects_empty_search(db):
    # An empty --search must not silently add a top stories source.
    with pytest.raises(CommandError) as raised:
        run_command("add_source", "--google-news", "--search", "")
    assert raised.value.returncode == 2
    assert not Source.objects.exists()


def test_feed_form_rejects_out_of_range_port(editor_client):
    response = editor_client.post(
        reverse("admin:news_source_add"),
        {
            "name": "錯誤連接埠",
            "kind": Source.Kind.FEED,
            "enabled": "on",
            "url": OUT_OF_RANGE_PORT_URL,
            "gn_edition": "TW",
        },
    )
    assert response.status_code == 200
    assert not Source.objects.exists()
