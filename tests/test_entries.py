import datetime

import feedparser
import pytest

from news.entries import (
    canonical_link,
    entry_identity,
    html_to_text,
    normalize_entry,
    parse_date,
    strip_publisher_suffix,
)
from tests.feedserver import item, rss

UTC = datetime.timezone.utc


def parse_items(*items, url="http://feeds.example.com/feed.xml"):
    parsed = feedparser.parse(rss(*items))
    return [normalize_entry(entry, url) for entry in parsed.entries]


def test_publisher_suffix_is_removed_once():
    assert strip_publisher_suffix("台股大漲 - 工商時報", "工商時報") == "台股大漲"


def test_publisher_suffix_is_removed_when_doubled():
    assert strip_publisher_suffix("台股大漲 - 工商時報 - 工商時報", "工商時報") == "台股大漲"


def test_publisher_with_separator_characters_is_removed_whole():
    title = "Refining Boom - Crude Oil Prices Today | OilPrice.com"
    assert strip_publisher_suffix(title, "Crude Oil Prices Today | OilPrice.com") == "Refining Boom"


def test_title_that_is_only_the_publisher_is_kept():
    assert strip_publisher_suffix(" - 中央社", "中央社") == " - 中央社"


def test_google_news_entry_splits_publisher_from_title():
    [entry] = parse_items(
        item(
            "CBMiabc",
            "颱風逼近 - 中央社 CNA",
            extra='<source url="https://www.cna.com.tw">中央社 CNA</source>',
        )
    )
    assert entry.title == "颱風逼近"
    assert entry.publisher_name == "中央社 CNA"
    assert entry.publisher_url == "https://www.cna.com.tw"


def test_summary_is_plain_text():
    text = html_to_text('<a href="x">標題</a>&nbsp;&nbsp;<font color="#6f6f6f">聯合新聞網</font>')
    assert text == "標題\xa0\xa0聯合新聞網"


def test_title_keeps_no_break_space():
    [entry] = parse_items(item("nbsp", "A \u2019 B \u00a0 C"))
    assert entry.title == "A \u2019 B \u00a0 C"


def test_summary_drops_script_content():
    assert html_to_text("<p>一</p><script>alert(1)</script><p>二</p>") == "一 二"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Thu, 04 May 2017 19:40:17 +0430", datetime.datetime(2017, 5, 4, 15, 10, 17, tzinfo=UTC)),
        ("Thu, 03 Sep 15 00:01:01 +0200", datetime.datetime(2015, 9, 2, 22, 1, 1, tzinfo=UTC)),
        ("2026-12-04T08:00:00Z", datetime.datetime(2026, 12, 4, 8, 0, tzinfo=UTC)),
        ("2026-12-04T16:00:00+08:00", datetime.datetime(2026, 12, 4, 8, 0, tzinfo=UTC)),
    ],
)
def test_dates_with_time_zone_become_utc(raw, expected):
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Thu, 4 May 2017 19:40:17",  # no time zone
        "Mo, 25 Jun 2018 11:41:36",  # German day name, no zone
        "2016/6/29 15:07:41",  # feedparser reads this as 2016-12-01
        "tomorrow",
    ],
)
def test_unusable_dates_are_empty(raw):
    parsed = feedparser.parse(rss(item("x", "t", date=raw))).entries[0].get("published_parsed")
    assert parse_date(raw, parsed) is None


def test_entry_without_date_has_no_published_time():
    [entry] = parse_items(item("d4", "沒有日期", date=None))
    assert entry.published_at is None


def test_identity_ignores_google_tracking_parameter():
    first = entry_identity("f", "", "https://news.google.com/rss/articles/CBMi?oc=5", "t", "")
    second = entry_identity("f", "", "https://news.google.com/rss/articles/CBMi", "t", "")
    assert first == second


def test_identity_of_same_guid_differs_between_hosts():
    first = entry_identity("blog-a.example", "1", "", "", "")
    second = entry_identity("blog-b.example", "1", "", "", "")
    assert first != second


def test_canonical_link_drops_utm_parameters():
    assert canonical_link("HTTP://Example.com/a?id=3&utm_source=x#top") == "http://example.com/a?id=3"


def test_relative_link_is_resolved_against_feed_url():
    [entry] = parse_items(item("r1", "相對連結", link="/news/1.html"))
    assert entry.link == "http://feeds.example.com/news/1.html"


def test_long_title_is_truncated_to_column_size():
    [entry] = parse_items(item("long", "長" * 3000))
    assert len(entry.title) == 1000
