"""Broken, hostile and oddly encoded feeds, served over HTTP and fetched by the service."""

import time
from pathlib import Path

import pytest

from news.download import FetchError
from news.fetching import create_run, run_fetch
from news.models import Article, ErrorCode, FetchRun, SourceResult
from news.parsing import parse_feed, remove_entity_declarations
from tests.feedserver import item, rss

pytestmark = pytest.mark.usefixtures("english")

BIG5_FEED = (
    '<?xml version="1.0" encoding="big5"?><rss version="2.0"><channel><title>t</title>'
    "<item><title>均三緘其口</title><guid>c1</guid></item></channel></rss>"
)
GB2312_FEED = (
    '<rss version="2.0"><channel><title>t</title>'
    "<item><title>中文新闻标题测试</title><guid>c1</guid></item></channel></rss>"
)
UTF8_FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    "<item><title>臺灣新聞標題</title><guid>u1</guid></item></channel></rss>"
)


@pytest.fixture
def fetch_body(feed_server, make_source):
    """Serve `body` with `content_type`, fetch it once and return (run, result)."""

    def fetch(body, content_type="application/rss+xml", path="/feed.xml"):
        source = make_source(feed_server.add(path, body, content_type=content_type))
        run = run_fetch(create_run(FetchRun.Trigger.COMMAND, sources=[source]))
        return run, run.results.get(source=source)

    return fetch


def titles():
    return list(Article.objects.values_list("title", flat=True))


def test_big5_declared_in_prolog_without_header_charset(fetch_body):
    run, _ = fetch_body(BIG5_FEED.encode("big5"), content_type="text/xml")
    assert titles() == ["均三緘其口"]
    assert run.status == FetchRun.Status.SUCCEEDED


def test_big5_without_any_declaration(fetch_body):
    body = BIG5_FEED.replace(' encoding="big5"', "").replace("均三緘其口", "均三緘其口，立法院今天三讀通過")
    fetch_body(body.encode("big5"), content_type="text/xml")
    assert titles() == ["均三緘其口，立法院今天三讀通過"]


def test_gb2312_declared_only_in_header(fetch_body):
    fetch_body(GB2312_FEED.encode("gb2312"), content_type="application/rss+xml; charset=gb2312")
    assert titles() == ["中文新闻标题测试"]


def test_gb2312_without_any_declaration(fetch_body):
    fetch_body(GB2312_FEED.encode("gb2312"), content_type="application/rss+xml")
    assert titles() == ["中文新闻标题测试"]


def test_header_charset_contradicting_utf8_content(fetch_body):
    run, result = fetch_body(UTF8_FEED.encode(), content_type="text/xml; charset=us-ascii")
    assert titles() == ["臺灣新聞標題"]
    assert run.status == FetchRun.Status.SUCCEEDED
    # feedparser's CharacterEncodingOverride is not a problem worth a warning.
    assert result.warning == ""


def test_header_charset_contradicting_prolog(fetch_body):
    body = BIG5_FEED.replace('encoding="big5"', 'encoding="utf-8"').encode("big5")
    fetch_body(body, content_type="text/xml; charset=big5")
    assert titles() == ["均三緘其口"]


def test_utf8_byte_order_mark(fetch_body):
    run, _ = fetch_body(b"\xef\xbb\xbf" + UTF8_FEED.encode())
    assert titles() == ["臺灣新聞標題"]
    assert run.status == FetchRun.Status.SUCCEEDED


def test_html_entities_in_xml_are_read_with_warning(fetch_body):
    run, result = fetch_body(rss(item("b1", "A &rsquo; B &nbsp; C"), item("b2", "乾淨")))
    assert run.status == FetchRun.Status.SUCCEEDED
    assert Article.objects.count() == 2
    assert Article.objects.get(guid="b1").title == "A \u2019 B \u00a0 C"
    assert "undefined entity" in result.warning


def test_garbage_body_is_not_a_feed(fetch_body):
    run, result = fetch_body(b"garbage")
    assert run.status == FetchRun.Status.FAILED
    assert result.error_code == ErrorCode.NOT_A_FEED
    assert "not an RSS or Atom feed" in result.error_message
    assert Article.objects.count() == 0


def test_empty_body_is_not_a_feed(fetch_body):
    run, result = fetch_body(b"")
    assert run.status == FetchRun.Status.FAILED
    assert result.error_message.endswith("is empty, not a feed")


def test_html_page_is_not_a_feed(fetch_body):
    page = "<!DOCTYPE html><html><body>首頁</body></html>".encode()
    _, result = fetch_body(page, "text/html")
    assert result.error_code == ErrorCode.NOT_A_FEED
    assert result.error_message.endswith("is HTML, not a feed")


def test_blank_lines_before_xml_declaration(fetch_body):
    run, result = fetch_body(b"\n\n\n" + UTF8_FEED.encode())
    assert run.status == FetchRun.Status.SUCCEEDED
    assert titles() == ["臺灣新聞標題"]
    assert result.warning


def test_feed_with_no_items_succeeds_empty(fetch_body):
    run, result = fetch_body(rss())
    assert run.status == FetchRun.Status.SUCCEEDED
    assert (result.entries_seen, result.articles_created) == (0, 0)


def test_json_feed_is_reported_as_unsupported(fetch_body):
    body = b'{"version": "https://jsonfeed.org/version/1", "title": "t", "items": []}'
    _, result = fetch_body(body, content_type="application/json")
    assert result.error_code == ErrorCode.NOT_A_FEED
    assert "JSON Feed" in result.error_message


LAUGHS = "".join(
    f'<!ENTITY lol{level} "{("&lol%d;" % (level - 1)) * 10}">' for level in range(1, 10)
)


def test_billion_laughs_is_not_expanded(fetch_body):
    body = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">' + LAUGHS + "]>"
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>笑&lol9;</title><guid>x</guid></item></channel></rss>"
    ).encode()
    started = time.monotonic()
    run, result = fetch_body(body)
    title = Article.objects.get().title
    assert run.status == FetchRun.Status.SUCCEEDED
    assert "lollol" not in title
    assert "entity declarations" in result.warning
    assert time.monotonic() - started < 5


def test_external_file_entity_is_not_read(fetch_body):
    body = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>外部&xxe;實體</title><guid>x</guid></item></channel></rss>"
    ).encode()
    fetch_body(body)
    hostname = Path("/etc/hostname").read_text().strip()
    assert hostname not in Article.objects.get().title


def test_external_network_entity_is_not_fetched(fetch_body, feed_server):
    secret = feed_server.add("/secret.txt", b"secret", content_type="text/plain")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % remote SYSTEM "{secret}"> %remote;'
        f'<!ENTITY xxe SYSTEM "{secret}">]>'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>網路&xxe;實體</title><guid>x</guid></item></channel></rss>"
    ).encode()
    fetch_body(body)
    assert feed_server.hits("/secret.txt") == 0
    assert "secret" not in Article.objects.get().title


def test_url_body_is_not_opened(fetch_body, feed_server):
    # feedparser.parse() opens URLs and files when given a str; it gets bytes.
    secret = feed_server.add("/secret.xml", rss(item("s", "秘密")))
    _, result = fetch_body(secret.encode(), content_type="text/plain")
    assert result.error_code == ErrorCode.NOT_A_FEED
    assert feed_server.hits("/secret.xml") == 0


def test_parse_feed_reads_bytes_not_paths():
    with pytest.raises(FetchError):
        parse_feed(b"/etc/hostname", url="http://x/")


def test_items_missing_every_field_are_stored(fetch_body):
    body = rss(
        "<description>只有摘要</description>",
        "<title>只有標題</title>",
        "<link>http://example.com/only-link</link>",
    )
    run, result = fetch_body(body)
    assert run.status == FetchRun.Status.SUCCEEDED
    assert result.articles_created == 3
    assert not Article.objects.filter(identity="").exists()


def test_very_long_fields_are_truncated(fetch_body):
    long_link = "http://example.com/" + "a" * 3000
    run, _ = fetch_body(rss(item("長" * 1500, "標" * 5000, link=long_link)))
    article = Article.objects.get()
    assert run.status == FetchRun.Status.SUCCEEDED
    assert (len(article.title), len(article.guid), len(article.link)) == (1000, 1000, 2000)


def test_relative_links_resolve_against_feed_url(fetch_body, feed_server):
    fetch_body(rss(item("r1", "相對", link="articles/1.html")), path="/news/feed.xml")
    assert Article.objects.get().link == feed_server.url("/news/articles/1.html")


def test_not_modified_body_is_not_parsed(feed_server, make_source):
    feed_server.add("/304.xml", b"this is not a feed", status=304)
    source = make_source(feed_server.url("/304.xml"), etag='"v1"')
    run = run_fetch(create_run(FetchRun.Trigger.COMMAND, sources=[source]))
    assert run.results.get(source=source).status == SourceResult.Status.UNCHANGED


def test_entity_declarations_with_tricky_values_are_removed():
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!-- it\'s ]> --><!ENTITY a "]>">'
        b'<!ENTITY b SYSTEM "file:///etc/hostname">]><rss version="2.0">&a;&b;</rss>'
    )
    assert remove_entity_declarations(body) == (
        b'<?xml version="1.0"?><rss version="2.0">&a;&b;</rss>',
        True,
    )


def test_doctype_without_entities_is_kept():
    body = (
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"/>'
    )
    assert remove_entity_declarations(body) == (body, False)
