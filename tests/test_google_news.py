import datetime

import pytest

from news.google_news import InvalidGoogleNewsQuery, build_url

pytestmark = pytest.mark.usefixtures("english")


def test_top_stories_url_uses_taiwan_defaults():
    assert build_url("top") == "https://news.google.com/rss?hl=zh-TW&gl=TW&ceid=TW:zh-Hant"


def test_topic_section_url():
    url = build_url("topic", topic="business")
    assert url.startswith("https://news.google.com/rss/headlines/section/topic/BUSINESS?")


def test_topic_id_url():
    topic_id = "CAAqJggKIiBDQkFTRWdvSUwyMHZNRGx6TVdZU0FtVnVHZ0pWVXlnQVAB"
    assert build_url("topic", topic=topic_id).startswith(
        f"https://news.google.com/rss/topics/{topic_id}?"
    )


def test_search_url_quotes_query_and_time_window():
    url = build_url("search", query="台股", when="1d")
    assert url == (
        "https://news.google.com/rss/search?q=%E5%8F%B0%E8%82%A1%20when:1d"
        "&hl=zh-TW&gl=TW&ceid=TW:zh-Hant"
    )


@pytest.mark.parametrize("when", ["1h", "7d", "12m", "1y"])
def test_search_url_with_time_window(when):
    url = build_url("search", query="颱風", when=when)
    assert f"%E9%A2%B1%E9%A2%A8%20when:{when}&" in url


def test_search_url_with_only_after():
    url = build_url("search", query="選舉", after=datetime.date(2026, 11, 1))
    assert "%E9%81%B8%E8%88%89%20after:2026-11-01&" in url


def test_search_url_with_after_and_before():
    url = build_url(
        "search",
        query="brent",
        after=datetime.date(2026, 1, 1),
        before=datetime.date(2026, 2, 1),
        hl="en-GB",
        gl="GB",
        ceid="GB:en",
    )
    assert "q=brent%20after:2026-01-01%20before:2026-02-01&hl=en-GB&gl=GB&ceid=GB:en" in url


def test_geo_url():
    assert build_url("geo", query="Taipei").startswith(
        "https://news.google.com/rss/headlines/section/geo/Taipei?"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "search", "query": ""}, "needs a query"),
        ({"mode": "search", "query": "x", "when": "yesterday"}, "Time window"),
        ({"mode": "top", "when": "1d"}, "only to searches"),
        ({"mode": "topic", "topic": "not a topic!"}, "Unknown topic"),
        ({"mode": "top", "hl": "zh TW"}, "not a valid language"),
        ({"mode": "weather"}, "Unknown Google News feed"),
        ({"mode": "search", "query": "x", "after": "2026-01-01"}, "must be a date"),
        ({"mode": "geo", "query": " "}, "needs a place name"),
    ],
)
def test_invalid_parts_are_rejected_with_reason(kwargs, message):
    mode = kwargs.pop("mode")
    with pytest.raises(InvalidGoogleNewsQuery, match=message):
        build_url(mode, **kwargs)
