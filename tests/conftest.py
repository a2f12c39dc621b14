import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from news.models import Article, Source
from news.translations import catalog_paths, compile_catalog
from tests.feedserver import FeedServer

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session):
    # Pages are checked in Chinese, so the .mo files must match the .po files
    # before any catalog is loaded; `make test` compiles them too.
    for po_path in catalog_paths():
        compile_catalog(po_path)


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
    """The session's feed server with no routes and no recorded requests."""
    _feed_server_instance.routes.clear()
    _feed_server_instance.requests.clear()
    return _feed_server_instance


@pytest.fixture
def make_source(db):
    def make(url, name=None, **fields):
        return Source.objects.create(
            name=name or f"來源 {Source.objects.count() + 1}", url=url, **fields
        )

    return make


def _staff_user(username, *codenames):
    user = User.objects.create_user(username, password="test-password", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="news", codename__in=codenames)
    )
    return user


@pytest.fixture
def editor(db):
    """A staff user who manages sources and may start a fetch."""
    return _staff_user(
        "編輯",
        "view_source", "add_source", "change_source", "view_article", "view_fetchrun",
        "start_fetch",
    )


@pytest.fixture
def reader(db):
    """A staff user who may look at everything but start nothing."""
    return _staff_user("讀者", "view_source", "view_article", "view_fetchrun")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("管理員", password="test-password")


@pytest.fixture
def make_article(db):
    def make(title, *, sources=(), **fields):
        number = Article.objects.count() + 1
        fields.setdefault("published_at", timezone.now())
        fields.setdefault("link", f"https://news.example.tw/{number}")
        article = Article.objects.create(identity=f"test-{number}", title=title, **fields)
        article.sources.set(sources)
        return article

    return make


@pytest.fixture
def articles_in_three_sources(make_source, make_article):
    """Twelve articles, each in one to three of three sources, for query counts."""
    sources = [make_source(f"https://news.example.tw/{number}.xml") for number in range(3)]
    return [
        make_article(
            f"新聞 {number}", sources=sources[: number % 3 + 1], publisher_name=f"媒體 {number}"
        )
        for number in range(12)
    ]
