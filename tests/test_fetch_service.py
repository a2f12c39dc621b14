import threading

import pytest

from news.fetching import create_run, run_fetch
from news.models import Article, ErrorCode, FetchRun, SourceResult
from tests.feedserver import item, rss


def fetch(*sources):
    run = create_run(FetchRun.Trigger.COMMAND, sources=list(sources) or None)
    return run_fetch(run)


def result_of(run, source):
    return run.results.get(source=source)


@pytest.fixture
def news_feed(feed_server, make_source):
    url = feed_server.add(
        "/news.xml",
        rss(
            item("n1", "台北捷運新路線通車"),
            item("n2", "高雄港貨櫃量創新高"),
            item("n3", "花蓮地震無人傷亡"),
        ),
    )
    return make_source(url, name="新聞")


def test_articles_are_stored(news_feed):
    run = fetch(news_feed)
    assert run.status == FetchRun.Status.SUCCEEDED
    assert set(Article.objects.values_list("title", flat=True)) == {
        "台北捷運新路線通車",
        "高雄港貨櫃量創新高",
        "花蓮地震無人傷亡",
    }


def test_run_counts_entries_and_created_articles(news_feed):
    run = fetch(news_feed)
    assert (run.sources_total, run.sources_succeeded, run.entries_seen, run.articles_created) == (
        1,
        1,
        3,
        3,
    )


def test_second_run_creates_no_article(news_feed):
    fetch(news_feed)
    second = fetch(news_feed)
    assert second.articles_created == 0
    assert Article.objects.count() == 3


def test_changed_entry_updates_article(news_feed, feed_server):
    fetch(news_feed)
    feed_server.add("/news.xml", rss(item("n1", "台北捷運新路線今天通車")))
    run = fetch(news_feed)
    assert run.articles_updated == 1
    assert Article.objects.get(guid="n1").title == "台北捷運新路線今天通車"


def test_article_seen_through_two_google_news_feeds_is_one_article(feed_server, make_source):
    body = rss(item("CBMiSameStory", "同一則新聞 - 中央社", extra='<source url="https://www.cna.com.tw">中央社</source>'))
    first = make_source(feed_server.add("/gn/a", body), name="A")
    second = make_source(feed_server.add("/gn/b", body), name="B")
    fetch(first, second)
    article = Article.objects.get()
    assert set(article.sources.values_list("name", flat=True)) == {"A", "B"}


def test_duplicate_guid_in_one_feed_counts_rows_really_inserted(feed_server, make_source):
    source = make_source(
        feed_server.add(
            "/dup.xml",
            rss(
                item("i1", "一"),
                item("same", "二"),
                item("same", "三"),
                item("i4", "四"),
                item("i5", "五"),
            ),
        )
    )
    feed_server.add("/pre.xml", rss(item("i5", "五")))
    # Item 5 is already stored before the run under test.
    fetch(source.__class__.objects.create(name="預先", url=feed_server.url("/pre.xml")))
    run = fetch(source)
    assert run.status == FetchRun.Status.SUCCEEDED
    assert Article.objects.count() == 4
    assert run.articles_created == 3


def test_concurrent_runs_over_one_feed_store_each_article_once(transactional_db, feed_server, make_source):
    source = make_source(feed_server.add("/race.xml", rss(*[item(f"r{i}", f"標題 {i}") for i in range(50)])))
    runs = []

    def worker():
        runs.append(fetch(source))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Article.objects.count() == 50
    assert sum(run.articles_created for run in runs) == 50


def test_server_error_fails_only_that_source(news_feed, feed_server, make_source):
    broken = make_source(feed_server.add("/broken.xml", b"oops", status=500), name="壞掉")
    run = fetch(news_feed, broken)
    assert run.status == FetchRun.Status.PARTIALLY_FAILED
    assert result_of(run, broken).error_message == f"HTTP 500 from {broken.url}"
    assert Article.objects.count() == 3


def test_html_page_fails_with_not_a_feed(news_feed, feed_server, make_source):
    page = make_source(
        feed_server.add("/page", b"<!DOCTYPE html><html><body>hi</body></html>", content_type="text/html"),
        name="網頁",
    )
    run = fetch(news_feed, page)
    result = result_of(run, page)
    assert result.error_code == ErrorCode.NOT_A_FEED
    assert result.error_message == f"response from {page.url} is HTML, not a feed"


def test_silent_server_times_out_alone(news_feed, feed_server, make_source, settings):
    settings.NEWS_READ_TIMEOUT = 0.5

    def never_answer(handler, server):
        server.stopping.wait(10)

    silent = make_source(feed_server.add_handler("/silent", never_answer), name="沉默")
    run = fetch(news_feed, silent)
    result = result_of(run, silent)
    assert result.error_code == ErrorCode.TIMEOUT
    assert "timed out after 0.5 s" in result.error_message
    assert result_of(run, news_feed).status == SourceResult.Status.SUCCEEDED


def test_failure_is_recorded_on_source(feed_server, make_source):
    source = make_source(feed_server.add("/gone.xml", b"", status=503))
    fetch(source)
    source.refresh_from_db()
    assert (source.consecutive_failures, source.last_error_code) == (1, ErrorCode.HTTP_STATUS)


def test_all_sources_failing_fails_run(feed_server, make_source):
    source = make_source(feed_server.add("/gone.xml", b"", status=404))
    assert fetch(source).status == FetchRun.Status.FAILED


def test_malformed_feed_is_stored_with_warning(feed_server, make_source):
    body = rss(item("b1", "A &rsquo; B &nbsp; C"), item("b2", "乾淨的標題"))
    source = make_source(feed_server.add("/bozo.xml", body))
    run = fetch(source)
    result = result_of(run, source)
    assert result.status == SourceResult.Status.SUCCEEDED
    assert "undefined entity" in result.warning
    assert Article.objects.get(guid="b1").title == "A \u2019 B \u00a0 C"


def test_validators_are_sent_back_as_conditional_get(feed_server, make_source):
    source = make_source(
        feed_server.add("/etag.xml", rss(item("e1", "一")), headers={"ETag": '"v1"'})
    )
    fetch(source)
    fetch(source)
    assert feed_server.headers_of("/etag.xml")[1].get("if-none-match") == '"v1"'
