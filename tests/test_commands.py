from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from news.models import Article, Source
from news.sources import DEFAULT_SOURCES
from tests.feedserver import item, rss


def run_command(*args):
    """Run a command in English and return what it wrote to stdout."""
    out = StringIO()
    with translation.override("en"):
        call_command(*args, stdout=out)
    return out.getvalue()


def test_add_source_prints_created_source(db):
    output = run_command("add_source", "https://example.com/feed.xml", "--name", "範例")
    source = Source.objects.get()
    assert output.strip() == f"Added source {source.pk} 範例: https://example.com/feed.xml"


def test_add_source_duplicate_url_exits_2(db):
    run_command("add_source", "https://example.com/feed.xml")
    with pytest.raises(CommandError, match="already exists") as raised:
        run_command("add_source", "https://example.com/feed.xml", "--name", "另一個")
    assert raised.value.returncode == 2


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "not a url", "file:///etc/passwd"])
def test_add_source_invalid_url_exits_2(db, url):
    with pytest.raises(CommandError, match="not a valid feed URL") as raised:
        run_command("add_source", url)
    assert raised.value.returncode == 2


def test_add_source_builds_google_news_search(db):
    run_command("add_source", "--google-news", "--search", "台股", "--when", "1d")
    source = Source.objects.get()
    assert source.url == (
        "https://news.google.com/rss/search?q=%E5%8F%B0%E8%82%A1%20when:1d"
        "&hl=zh-TW&gl=TW&ceid=TW:zh-Hant"
    )


def test_add_source_bad_time_window_exits_2(db):
    with pytest.raises(CommandError, match="Time window") as raised:
        run_command("add_source", "--google-news", "--search", "台股", "--when", "soon")
    assert raised.value.returncode == 2


def test_add_default_sources_never_adds_twice(db):
    run_command("add_default_sources")
    run_command("add_default_sources")
    assert Source.objects.count() == len(DEFAULT_SOURCES)


def test_fetch_news_output_lines(db, feed_server):
    url = feed_server.add("/a.xml", rss(item("a1", "第一則"), item("a2", "第二則")))
    run_command("add_source", url, "--name", "甲")
    output = run_command("fetch_news").splitlines()
    assert output[0] == "Succeeded 甲: 2 entries, 2 new, 0 updated"
    assert output[-1].startswith("Run #")


def test_fetch_news_exits_1_when_a_source_fails(db, feed_server):
    run_command("add_source", feed_server.add("/ok.xml", rss(item("o1", "好"))), "--name", "好")
    run_command("add_source", feed_server.add("/bad.xml", b"", status=500), "--name", "壞")
    with pytest.raises(CommandError, match="1 of 2 sources failed") as raised:
        run_command("fetch_news")
    assert raised.value.returncode == 1
    assert Article.objects.count() == 1


def test_fetch_news_only_fetches_named_source(db, feed_server):
    run_command("add_source", feed_server.add("/a.xml", rss(item("a1", "甲新聞"))), "--name", "甲")
    run_command("add_source", feed_server.add("/b.xml", rss(item("b1", "乙新聞"))), "--name", "乙")
    run_command("fetch_news", "--source", "乙")
    assert list(Article.objects.values_list("title", flat=True)) == ["乙新聞"]


def test_fetch_news_rejects_unknown_source_name(db):
    with pytest.raises(CommandError, match="No source named '不存在'") as raised:
        run_command("fetch_news", "--source", "不存在")
    assert raised.value.returncode == 2


TOO_LONG_ARGUMENTS = {
    # URLValidator accepts up to 2048 characters, but the url column stores 2000.
    "url": ["https://example.com/" + "a" * 2010],
    "name": ["https://example.com/feed.xml", "--name", "名" * 201],
    # 300 characters percent-encode to more than 2000 in the feed URL.
    "search": ["--google-news", "--search", "台" * 300],
    "hl": ["--google-news", "--hl", "a" * 21],
    # TOPIC_ID_PATTERN allows 200 characters, but gn_topic stores 100.
    "topic": ["--google-news", "--topic", "A" * 150],
}


@pytest.mark.parametrize("arguments", TOO_LONG_ARGUMENTS.values(), ids=TOO_LONG_ARGUMENTS.keys())
def test_add_source_too_long_value_exits_2(db, arguments):
    with pytest.raises(CommandError) as raised:
        run_command("add_source", *arguments)
    assert raised.value.returncode == 2
    assert "at most" in str(raised.value)
    assert not Source.objects.exists()


def test_add_source_rejects_url_differing_only_in_case(db):
    # Scheme and host are case-insensitive, so this is the same feed.
    run_command("add_source", "https://example.com/feed.xml", "--name", "範例")
    with pytest.raises(CommandError) as raised:
        run_command("add_source", "HTTPS://EXAMPLE.COM/feed.xml", "--name", "範例大寫")
    assert raised.value.returncode == 2
    assert Source.objects.count() == 1


def test_add_source_keeps_path_case(db):
    run_command("add_source", "HTTPS://Example.COM/Feed.XML", "--name", "範例")
    assert Source.objects.get().url == "https://example.com/Feed.XML"


def test_add_source_translates_google_news_name(db):
    with translation.override("zh-hant"):
        call_command("add_source", "--google-news", "--search", "台股", "--when", "1d", stdout=StringIO())
    assert Source.objects.get().name == "Google 新聞 TW:zh-Hant：台股（過去 1d）"


@pytest.mark.parametrize("language, expected", [("en", "up to date"), ("zh-hant", "最新")])
def test_compile_translations_reports_up_to_date_catalogs(language, expected):
    call_command("compile_translations", stdout=StringIO())
    out = StringIO()
    with translation.override(language):
        call_command("compile_translations", stdout=out)
    assert expected in out.getvalue()


def test_fetch_news_warns_without_enabled_sources(db):
    output = run_command("fetch_news")
    assert "No source is enabled" in output
