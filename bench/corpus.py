"""A generated corpus of Google News shaped feeds and the HTTP server for it.

Every feed is built from its index, its entry count and its version with no
randomness, so a child process that rebuilds a feed gets the same bytes the
server sends. The server returns 304 to a conditional GET whose ETag or
Last-Modified matches. POST /versions moves feeds to version 1, which
publishes new entries and edits a few titles, as a real feed does.
"""

import base64
import email.utils
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

# 2026-12-04 08:00:00 UTC, the newest publication time in the corpus.
NEWEST_TIMESTAMP = 1796371200

PUBLISHERS = [
    ("中央社", "https://www.cna.com.tw"),
    ("自由時報", "https://news.ltn.com.tw"),
    ("聯合新聞網", "https://udn.com"),
    ("經濟日報", "https://money.udn.com"),
    ("工商時報", "https://www.ctee.com.tw"),
    ("公視新聞網", "https://news.pts.org.tw"),
    ("鉅亨網", "https://news.cnyes.com"),
    ("風傳媒", "https://www.storm.mg"),
    ("ETtoday新聞雲", "https://www.ettoday.net"),
    ("天下雜誌", "https://www.cw.com.tw"),
]
SUBJECTS = ["台積電", "行政院", "中央銀行", "台北捷運", "高雄港", "中央氣象署", "立法院",
            "外資", "健保署", "交通部", "花蓮縣", "台南市", "桃園機場"]
EVENTS = ["宣布擴大投資", "公布最新統計", "啟動新計畫", "調整收費標準", "創下歷史新高",
          "發布颱風警報", "召開記者會", "提出改革方案", "完成年度檢查", "迎來觀光人潮", "延長服務時間"]
DETAILS = ["專家看好後市", "民眾反應兩極", "下週正式上路", "影響逾十萬人", "各界持續關注",
           "預計年底完工", "首季成長三成"]
EDITED_MARK = "（更新）"


class Corpus:
    """N feeds of M entries each, and how a new version of a feed differs.

    Version 1 of a feed publishes `new_per_change` entries (dropping as many
    of the oldest) and edits the titles of `edits_per_change` entries that
    both versions contain. Versions above 1 are not defined.
    """

    def __init__(self, sources, entries):
        self.sources = sources
        self.entries = entries
        self.new_per_change = max(1, entries // 10)
        self.edits_per_change = max(1, min(entries - self.new_per_change, entries // 20))

    def changed_feeds(self):
        """Return the indexes of the 10% of feeds (at least one) that change."""
        step = 10 if self.sources >= 10 else self.sources
        return list(range(0, self.sources, step))

    def serials(self, version, entries=None):
        """Return the entry serial numbers of a feed version, newest first."""
        entries = self.entries if entries is None else entries
        if version == 0:
            return list(range(entries - 1, -1, -1))
        newest = entries + self.new_per_change
        return list(range(newest - 1, self.new_per_change - 1, -1))

    def edited_serials(self):
        """Return the serials whose titles version 1 edits. Version 0 contains them unedited."""
        first_kept = self.new_per_change
        return set(range(first_kept, first_kept + self.edits_per_change))

    def body(self, index, version=0, entries=None):
        """Return the RSS bytes of feed `index` at `version`."""
        edited = self.edited_serials() if version else set()
        items = "".join(
            self._item(index, serial, edited=serial in edited)
            for serial in self.serials(version, entries)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            "<generator>NFE/5.0</generator>"
            f"<title>\"基準測試 {index}\" - Google 新聞</title>"
            "<link>https://news.google.com/search?hl=zh-TW&amp;gl=TW&amp;ceid=TW:zh-Hant</link>"
            "<language>zh-TW</language>"
            f"<lastBuildDate>{_rfc822(NEWEST_TIMESTAMP)}</lastBuildDate>"
            "<description>Google 新聞</description>"
            f"{items}</channel></rss>"
        ).encode("utf-8")

    def title(self, index, serial, *, edited=False):
        """Return the headline of an entry, without the publisher suffix."""
        number = index * 7919 + serial
        headline = (
            f"{SUBJECTS[number % len(SUBJECTS)]}{EVENTS[number // 3 % len(EVENTS)]} "
            f"{DETAILS[number // 7 % len(DETAILS)]}"
        )
        return headline + EDITED_MARK if edited else headline

    def _item(self, index, serial, *, edited):
        guid = "CBMi" + base64.urlsafe_b64encode(
            f"news-fetcher-benchmark/{index}/{serial}".encode()
        ).decode().rstrip("=")
        link = f"https://news.google.com/rss/articles/{guid}?oc=5"
        publisher, publisher_url = PUBLISHERS[(index + serial) % len(PUBLISHERS)]
        title = self.title(index, serial, edited=edited)
        description = (
            f'<a href="{link}" target="_blank">{title}</a>&nbsp;&nbsp;'
            f'<font color="#6f6f6f">{publisher}</font>'
        )
        published = NEWEST_TIMESTAMP - index * 420 - serial * 780
        return (
            f"<item><title>{title} - {publisher}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>{_rfc822(published)}</pubDate>"
            f"<description>{escape(description)}</description>"
            f'<source url="{publisher_url}">{publisher}</source></item>'
        )


def _rfc822(timestamp):
    return email.utils.formatdate(timestamp, usegmt=True)


class CorpusServer:
    """A threaded HTTP server on 127.0.0.1 (free port) for a Corpus.

    GET /feeds/<entries>/<index>.xml serves feed `index` with `entries`
    entries at its current version. POST /versions with the body
    "1 5 9" moves those feeds to version 1. GET /stalled sends nothing until
    release_stalled() is called or `stall_seconds` pass, then one entry.
    """

    def __init__(self, corpus, stall_seconds=120):
        self.corpus = corpus
        self.stall_seconds = stall_seconds
        self._stall_released = threading.Event()
        self.versions = {}
        self.requests = 0
        self._bodies = {}
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self.release_stalled()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def feed_urls(self, count=None, entries=None):
        count = self.corpus.sources if count is None else count
        entries = self.corpus.entries if entries is None else entries
        return [f"{self.base_url}/feeds/{entries}/{index}.xml" for index in range(count)]

    def release_stalled(self):
        self._stall_released.set()

    def response_for(self, index, entries):
        """Return (body, etag, last_modified) of a feed at its current version."""
        with self._lock:
            self.requests += 1
            version = self.versions.get(index, 0)
            key = (index, entries, version)
            body = self._bodies.get(key)
            if body is None:
                body = self._bodies[key] = self.corpus.body(index, version, entries)
        etag = f'"{entries}-{index}-{version}"'
        last_modified = _rfc822(NEWEST_TIMESTAMP + version * 3600)
        return body, etag, last_modified


def _make_handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/stalled":
                server._stall_released.wait(server.stall_seconds)
                body = server.corpus.body(0, entries=1)
                self._send(200, body, {"Content-Type": "application/rss+xml; charset=UTF-8"})
                return
            parts = self.path.strip("/").removesuffix(".xml").split("/")
            if len(parts) != 3 or parts[0] != "feeds" or not (parts[1] + parts[2]).isdigit():
                self._send(404, b"not found")
                return
            body, etag, last_modified = server.response_for(int(parts[2]), int(parts[1]))
            validators = {"ETag": etag, "Last-Modified": last_modified}
            if self._not_modified(etag, last_modified):
                self._send(304, b"", validators)
                return
            self._send(200, body, {"Content-Type": "application/rss+xml; charset=UTF-8", **validators})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            indexes = [int(word) for word in self.rfile.read(length).split()]
            if self.path != "/versions":
                self._send(404, b"not found")
                return
            with server._lock:
                server.versions.update({index: 1 for index in indexes})
            self._send(204, b"")

        def _not_modified(self, etag, last_modified):
            if_none_match = self.headers.get("If-None-Match")
            if if_none_match is not None:
                return if_none_match == etag
            since = self.headers.get("If-Modified-Since")
            if since is None:
                return False
            try:
                return email.utils.parsedate_to_datetime(since) >= email.utils.parsedate_to_datetime(
                    last_modified
                )
            except (TypeError, ValueError):
                return False

        def _send(self, status, body, headers=None):
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    return Handler
