import os
from pathlib import Path

import pytest
from django.utils import translation

from news import hosts
from news.models import Source
from tests.feedserver import FeedServer

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_feeds_dir():
    """Folder of the shared feed captures: ../shared/feeds beside the repository."""
    return Path(os.environ.get("NEWS_SHARED_FEEDS", REPO_ROOT.parent / "shared" / "feeds"))


@pytest.fixture(scope="session")
def _feed_server_instance():
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def feed_server(_feed_server_instance):
    """The session's feed server with no routes, recorded requests or host wait."""
    _feed_server_instance.routes.clear()
    _feed_server_instance.requests.clear()
    hosts.clear_wait(_feed_server_instance.url("/"))
    yield _feed_server_instance
    hosts.clear_wait(_feed_server_instance.url("/"))


@pytest.fixture
def english():
    """Messages in English, in this thread and in the fetch pool's threads."""
    with translation.override("en"):
        yield


@pytest.fixture
def make_source(db):
    def make(url, name=None, **fields):
        return Source.objects.create(
            name=name or f"來源 {Source.objects.count() + 1}", url=url, **fields
        )

    return make
