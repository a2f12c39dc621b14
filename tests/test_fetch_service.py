import datetime
import io
from pathlib import Path
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import translation

from news import hosts
from news.fetching import backoff_seconds, create_run, run_fetch, sources_for
from news.models import Article, ErrorCode, FetchRun, Source, SourceResult
from tests import faults
from tests.feedserver import FeedServer, item, rss

pytestmark = pytest.mark.usefixtures("english")

ZH_HANT_CATALOGUE = (
    Path(__file__).resolve().parent.parent / "news/locale/zh_Hant/LC_MESSAGES/django.mo"
)


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


def test_story_in_two_feeds_is_one_article(feed_server, make_source):
    body = rss(item("CBMiSameStory", "同一則新聞 - 中央社", extra='<source url="https://www.cna.com.tw">中央社</source>'))
    first = make_source(feed_server.add("/gn/a", body), name="A")
    second = make_source(feed_server.add("/gn/b", body), name="B")
    fetch(first, second)
    article = Article.objects.get()
    assert set(article.sources.values_list("name", flat=True)) == {"A", "B"}


def test_duplicate_guid_counts_inserted_rows(feed_server, make_source):
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


def test_concurrent_runs_store_once(transactional_db, feed_server, make_source):
    source = make_source(feed_server.add("/race.xml", rss(*[item(f"r{i}", f"標題 {i}") for i in range(50)])))
    runs = []

    def worker():
        try:
            runs.append(fetch(source))
        finally:
            connections.close_all()

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


# Politeness: host waits, backoff, broken sources, redirects, parallel hosts.


@pytest.fixture
def no_retries(settings):
    settings.NEWS_FETCH_RETRIES = 0


@pytest.mark.usefixtures("no_retries")
def test_rate_limited_host_gets_one_request(feed_server, make_source):
    html = b"<html><body>Too Many Requests</body></html>"
    url = feed_server.add_handler(
        "/gn/rss",
        faults.sequence(
            faults.respond(429, html, {"Retry-After": "120", "Content-Type": "text/html"}),
            faults.respond(503, html, {"Content-Type": "text/html"}),
            faults.respond(200, rss(item("g1", "一"), item("g2", "二"), item("g3", "三"))),
        ),
    )
    source = make_source(url, name="Google 新聞")

    first = fetch(source)
    error = result_of(first, source).error_message
    assert first.status == FetchRun.Status.FAILED
    assert "429" in error
    assert "SAXParseException" not in error
    assert Article.objects.count() == 0

    second = fetch(source)
    assert result_of(second, source).status == SourceResult.Status.SKIPPED
    assert second.sources_failed == 0
    assert feed_server.hits("/gn/rss") == 1

    # The 120 s are over.
    hosts.clear_wait(url)
    third = fetch(source)
    assert result_of(third, source).http_status == 503
    assert "503" in result_of(third, source).error_message
    assert Article.objects.count() == 0

    assert fetch(source).articles_created == 3


@pytest.mark.usefixtures("no_retries")
def test_host_wait_skips_other_sources_on_that_host(feed_server, make_source):
    limited = make_source(
        feed_server.add("/a.xml", b"", status=503, headers={"Retry-After": "60"}), name="1 甲"
    )
    neighbour = make_source(feed_server.add("/b.xml", rss(item("b1", "乙"))), name="2 乙")
    run = fetch(limited, neighbour)
    assert result_of(run, neighbour).status == SourceResult.Status.SKIPPED
    assert (run.sources_failed, run.sources_skipped) == (1, 1)
    assert feed_server.hits("/b.xml") == 0


def test_backoff_grows_to_maximum(settings):
    settings.NEWS_SOURCE_BACKOFF = 10
    settings.NEWS_SOURCE_MAX_BACKOFF = 35
    assert [backoff_seconds(failures) for failures in (1, 2, 3, 4, 100)] == [10, 20, 35, 35, 35]


@pytest.mark.usefixtures("no_retries")
def test_failing_source_backs_off_until_later(feed_server, make_source, settings):
    settings.NEWS_SOURCE_BACKOFF = 600
    source = make_source(feed_server.add("/down.xml", b"", status=500))
    fetch(source)
    source.refresh_from_db()
    delay = (source.next_fetch_after - source.last_failure_at).total_seconds()
    assert delay == 600

    # A run over every enabled source skips it; a run that names it does not.
    run = run_fetch(create_run(FetchRun.Trigger.SCHEDULE))
    assert result_of(run, source).status == SourceResult.Status.SKIPPED
    assert feed_server.hits("/down.xml") == 1
    fetch(source)
    source.refresh_from_db()
    assert (source.next_fetch_after - source.last_failure_at).total_seconds() == 1200


@pytest.mark.usefixtures("no_retries")
def test_broken_source_resets_on_success(feed_server, make_source, settings):
    settings.NEWS_SOURCE_MAX_FAILURES = 2
    source = make_source(feed_server.add("/flaky.xml", b"", status=500))
    fetch(source)
    fetch(source)
    source.refresh_from_db()
    assert source.is_broken
    assert list(Source.objects.broken()) == [source]
    assert source.last_error_code == ErrorCode.HTTP_STATUS

    feed_server.add("/flaky.xml", rss(item("f1", "恢復")))
    fetch(source)
    source.refresh_from_db()
    assert not source.is_broken
    assert source.consecutive_failures == 0
    assert source.last_error == ""
    assert source.next_fetch_after is None


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_updates_source_url(feed_server, make_source, status):
    target = feed_server.add("/new.xml", rss(item("m1", "搬家")))
    location = {"Location": target}
    source = make_source(feed_server.add("/old.xml", b"", status=status, headers=location))
    run = fetch(source)
    source.refresh_from_db()
    assert source.url == target
    assert "moved permanently" in result_of(run, source).warning
    assert Article.objects.count() == 1


def test_temporary_redirect_keeps_source_url(feed_server, make_source):
    target = feed_server.add("/new.xml", rss(item("m1", "暫時")))
    old = feed_server.add("/old.xml", b"", status=302, headers={"Location": target})
    source = make_source(old)
    fetch(source)
    source.refresh_from_db()
    assert source.url == old


def test_permanent_redirect_to_used_url_keeps_url(feed_server, make_source):
    target = feed_server.add("/new.xml", rss(item("m1", "搬家")))
    make_source(target, name="已存在")
    old = feed_server.add("/old.xml", b"", status=301, headers={"Location": target})
    source = make_source(old)
    run = fetch(source)
    source.refresh_from_db()
    assert source.url == old
    assert "another source already uses" in result_of(run, source).warning


@pytest.fixture
def second_feed_server():
    server = FeedServer().start()
    yield server
    server.stop()


def test_hosts_are_fetched_in_parallel(
    transactional_db, feed_server, second_feed_server, make_source, settings
):
    settings.NEWS_FETCH_CONCURRENCY = 2
    # Each server responds only once both requests have arrived, which needs
    # two requests in flight at the same time.
    barrier = threading.Barrier(2, timeout=5)

    def together(body):
        def handler(request, server):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                request._send(500, b"not parallel", {})
                return
            request._send(200, body, {"Content-Type": "application/rss+xml"})

        return handler

    first = make_source(feed_server.add_handler("/p.xml", together(rss(item("p1", "甲")))), name="甲")
    second = make_source(
        second_feed_server.add_handler("/p.xml", together(rss(item("p2", "乙")))), name="乙"
    )
    run = fetch(first, second)
    assert run.status == FetchRun.Status.SUCCEEDED
    assert Article.objects.count() == 2


@pytest.fixture
def extra_feed_servers():
    servers = [FeedServer().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def test_parallel_hosts_write_safely(
    transactional_db, feed_server, extra_feed_servers, make_source, settings
):
    settings.NEWS_FETCH_CONCURRENCY = 4
    sources = []
    for number, server in enumerate([feed_server, *extra_feed_servers]):
        body = rss(*[item(f"s{number}-{index}", f"並行 {number}-{index}") for index in range(200)])
        sources.append(make_source(server.add("/many.xml", body), name=f"並行 {number}"))
    run = fetch(*sources)
    assert run.status == FetchRun.Status.SUCCEEDED
    assert run.articles_created == 800
    assert Article.objects.count() == 800


# Field reports: items without guid, odd dates, duplicate guids.


def test_items_without_guid_stored_once(feed_server, make_source):
    source = make_source(
        feed_server.add(
            "/no-guid.xml",
            rss(
                "<title>x</title><link>http://example.com/x</link>",
                "<title>y</title><link>http://example.com/y</link>",
                "<title>z</title><description>no link, no guid</description>",
            ),
        )
    )
    runs = [fetch(source) for _ in range(3)]
    links = [link for link in Article.objects.values_list("link", flat=True) if link]
    assert Article.objects.count() == 3
    assert [run.articles_created for run in runs[1:]] == [0, 0]
    assert not Article.objects.filter(identity="").exists()
    assert len(links) == len(set(links))


def test_odd_dates_are_stored_as_utc_or_null(feed_server, make_source, recwarn):
    dates = {
        "d1": "Thu, 4 May 2017 19:40:17",
        "d2": "2016/6/29 15:07:41",
        "d3": "Mo, 25 Jun 2018 11:41:36",
        "d4": None,
        "d5": "Thu, 04 May 2017 19:40:17 +0430",
        "d6": "Thu, 03 Sep 15 00:01:01 +0200",
    }
    body = rss(*[item(guid, f"日期 {guid}", date=date) for guid, date in dates.items()])
    run = fetch(make_source(feed_server.add("/dates.xml", body)))
    published = dict(Article.objects.values_list("guid", "published_at"))
    utc = datetime.timezone.utc
    assert run.status == FetchRun.Status.SUCCEEDED
    assert len(published) == 6
    assert published["d5"] == datetime.datetime(2017, 5, 4, 15, 10, 17, tzinfo=utc)
    assert published["d6"] == datetime.datetime(2015, 9, 2, 22, 1, 1, tzinfo=utc)
    assert [published[guid] for guid in ("d1", "d3", "d4")] == [None, None, None]
    assert published["d2"] in (None, datetime.datetime(2016, 6, 29, 15, 7, 41, tzinfo=utc))
    assert not [w for w in recwarn if "naive datetime" in str(w.message)]


def duplicate_guid_feed(feed_server, make_source):
    items = [
        item("i1", "一"),
        item("same", "二"),
        item("same", "三"),
        item("i4", "四"),
        item("i5", "五"),
    ]
    source = make_source(feed_server.add("/dup.xml", rss(*items)), name="重複")
    make_source(feed_server.add("/pre.xml", rss(item("i5", "五"))), name="預先")
    call_command("fetch_news", "--source", "預先", verbosity=0)
    return source


def last_run():
    return FetchRun.objects.order_by("-pk").first()


def test_fetch_news_counts_inserted_rows(feed_server, make_source):
    source = duplicate_guid_feed(feed_server, make_source)
    call_command("fetch_news", "--source", source.name, stdout=io.StringIO())
    run = last_run()
    assert run.status == FetchRun.Status.SUCCEEDED
    assert source.articles.count() == 4
    assert run.articles_created == 3


def test_concurrent_runs_over_stored_feed_create_nothing(
    transactional_db, feed_server, make_source
):
    # fetch_news takes the fetch lock, so two runs at once go through the
    # service directly, as two workers without the lock would.
    source = duplicate_guid_feed(feed_server, make_source)
    call_command("fetch_news", "--source", source.name, stdout=io.StringIO())
    errors = []

    def fetch_once():
        try:
            run_fetch(create_run(FetchRun.Trigger.COMMAND, sources=[source]))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fetch_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pair = FetchRun.objects.order_by("-pk")[:2]
    assert errors == []
    assert source.articles.count() == 4
    assert sum(run.articles_created for run in pair) == 0


# A feed host that never responds or trickles, through fetch_news.


def test_fetch_news_fails_silent_host_with_timeout(feed_server, make_source, settings):
    settings.NEWS_CONNECT_TIMEOUT = 0.5
    settings.NEWS_READ_TIMEOUT = 0.5
    source = make_source(feed_server.add_handler("/silent.xml", faults.stall()), name="沉默")
    started = time.monotonic()
    with pytest.raises(CommandError):
        call_command("fetch_news", "--source", source.name, stdout=io.StringIO())
    assert last_run().status == FetchRun.Status.FAILED
    assert "timed out" in source.results.get().error_message
    assert time.monotonic() - started < 0.5 + 0.5 + 5


def test_fetch_news_fails_trickling_host_at_deadline(feed_server, make_source, settings):
    settings.NEWS_READ_TIMEOUT = 1
    settings.NEWS_FETCH_DEADLINE = 1.5
    url = feed_server.add_handler("/trickle.xml", faults.trickle(interval=0.1))
    source = make_source(url, name="滴")
    started = time.monotonic()
    with pytest.raises(CommandError):
        call_command("fetch_news", "--source", source.name, stdout=io.StringIO())
    assert last_run().status == FetchRun.Status.FAILED
    assert source.results.get().error_code == ErrorCode.TIMEOUT
    assert time.monotonic() - started < 1.5 + 5


@pytest.mark.skipif(
    not ZH_HANT_CATALOGUE.exists(), reason="zh_Hant messages are not compiled (compilemessages)"
)
def test_failure_is_stored_translated_and_logged_in_english(feed_server, make_source, caplog):
    source = make_source(feed_server.add("/gone.xml", b"", status=404))
    with translation.override("zh-hant"):
        run = fetch(source)
    assert result_of(run, source).error_message == f"{source.url} 回應 HTTP 404"
    assert f"failed: http_status: HTTP 404 from {source.url}" in caplog.text


def test_run_for_deleted_source_fetches_nothing(make_source):
    # A run for chosen sources must not widen to every source once they are gone.
    chosen = make_source("https://news.example.tw/chosen.xml", name="指定來源")
    make_source("https://news.example.tw/other.xml", name="其他來源")
    run = create_run(FetchRun.Trigger.ADMIN, sources=[chosen])

    chosen.delete()

    assert sources_for(run) == []


def test_run_for_all_sources_fetches_every_enabled_one(make_source):
    first = make_source("https://news.example.tw/a.xml", name="甲")
    make_source("https://news.example.tw/b.xml", name="乙", enabled=False)
    run = create_run(FetchRun.Trigger.ADMIN)
    assert sources_for(run) == [first]
