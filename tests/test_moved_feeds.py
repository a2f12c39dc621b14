"""A feed that moves to another host name keeps one article per guid."""

import pytest

from news.fetching import create_run, run_fetch
from news.models import Article, FetchRun
from tests.feedserver import item, rss

pytestmark = pytest.mark.usefixtures("english")

FEED_BODY = rss(item("tag:news.example.tw,2026:1", "颱風假最新消息"))


def fetch_all():
    return run_fetch(create_run(FetchRun.Trigger.COMMAND))


@pytest.fixture
def fetched_source(feed_server, make_source):
    """A source fetched once from 127.0.0.1, with the same feed also served as localhost."""
    url = feed_server.add("/feed.xml", FEED_BODY)
    feed_server.add("/moved.xml", FEED_BODY)
    source = make_source(url, name="搬家的來源")
    fetch_all()
    return source


@pytest.mark.parametrize("status", [301, 302])
def test_feed_moved_to_other_host_name_keeps_one_article(feed_server, fetched_source, status):
    # Like a feed moving from example.com to www.example.com: same entries, same guids.
    new_url = feed_server.url("/moved.xml").replace("127.0.0.1", "localhost")
    feed_server.add("/feed.xml", status=status, headers={"Location": new_url})
    fetch_all()
    assert Article.objects.count() == 1
