from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from news.models import Article, Source
from tests.feedserver import item, rss


def run_demo(*args):
    out = StringIO()
    with translation.override("en"):
        call_command("demo_fetch", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def feed_folder(tmp_path):
    (tmp_path / "taiwan.xml").write_bytes(rss(item("t1", "示範新聞一"), item("t2", "示範新聞二")))
    (tmp_path / "notes.txt").write_text("not a feed")
    return tmp_path


def test_demo_fetch_stores_served_files(db, feed_folder):
    run_demo(str(feed_folder))
    assert Article.objects.count() == 2


def test_demo_sources_stay_disabled(db, feed_folder):
    run_demo(str(feed_folder))
    source = Source.objects.get()
    assert (source.name, source.enabled) == ("Demo: taiwan.xml", False)


def test_demo_fetch_twice_reuses_its_source(db, feed_folder):
    run_demo(str(feed_folder))
    run_demo(str(feed_folder))
    assert Source.objects.count() == 1


def test_demo_fetch_rejects_folder_without_feeds(db, tmp_path):
    with pytest.raises(CommandError, match="No .xml, .rss or .atom files") as raised:
        run_demo(str(tmp_path))
    assert raised.value.returncode == 2


def test_demo_fetch_needs_private_addresses_allowed(db, feed_folder, settings):
    settings.NEWS_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(CommandError, match="NEWS_ALLOW_PRIVATE_ADDRESSES=1"):
        run_demo(str(feed_folder))
