from django.db import connection
from django.test.utils import CaptureQueriesContext

from news.entries import EntryData
from news.models import Article
from news.storage import store_entries


def entries(prefix, count, title="台北市公車路線調整"):
    return [
        EntryData(
            identity=f"{prefix}{number:063d}",
            guid=f"{prefix}-{number}",
            title=f"{title} {number}",
            link=f"http://news.example.com/{prefix}/{number}",
            publisher_name="中央社",
            publisher_url="https://www.cna.com.tw",
            summary="公車路線下週起調整",
            published_at=None,
        )
        for number in range(count)
    ]


def queries_to_store(source, batch):
    with CaptureQueriesContext(connection) as captured:
        store_entries(source, batch)
    return len(captured)


# Django 5.2 assumes SQLite allows 999 bound variables, so it puts at most
# 90 Articles (11 columns) in one INSERT. 50 entries stay below that.
def test_first_store_queries_do_not_grow_with_entries(make_source):
    source = make_source("http://feeds.example.com/news.xml")
    assert queries_to_store(source, entries("a", 1)) == queries_to_store(source, entries("b", 50))


def test_changed_store_queries_do_not_grow_with_entries(make_source):
    source = make_source("http://feeds.example.com/news.xml")
    store_entries(source, entries("a", 1))
    store_entries(source, entries("b", 50))
    small = queries_to_store(source, entries("a", 1, title="台北市公車路線再次調整"))
    large = queries_to_store(source, entries("b", 50, title="台北市公車路線再次調整"))
    assert small == large


def test_changed_store_updates_every_changed_title(make_source):
    source = make_source("http://feeds.example.com/news.xml")
    store_entries(source, entries("b", 50))
    result = store_entries(source, entries("b", 50, title="台北市公車路線再次調整"))
    assert result.updated == 50
    assert Article.objects.filter(title__startswith="台北市公車路線再次調整").count() == 50
