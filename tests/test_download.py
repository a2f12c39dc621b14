"""news.download against real HTTP servers on 127.0.0.1 that misbehave."""

import gzip
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib

import pytest
from django.utils import translation

from news import addresses, download as download_module
from news.download import BodyDecoder, FetchError, Limits, download
from news.models import ErrorCode
from news.version import VERSION
from tests import faults
from tests.feedserver import item, rss

pytestmark = pytest.mark.usefixtures("english")

FEED = rss(item("g1", "壓縮的新聞"))


def limits(**overrides):
    values = dict(
        connect_timeout=2, read_timeout=2, deadline=5, max_bytes=1024 * 1024, retries=2,
        retry_delay=0.01,
    )
    values.update(overrides)
    return Limits(**values)


def fetch_error(url, **overrides):
    with pytest.raises(FetchError) as caught:
        download(url, limits=limits(**overrides))
    return caught.value


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_user_agent_names_project_and_version(feed_server):
    url = feed_server.add("/ua.xml", FEED)
    download(url, limits=limits())
    user_agent = feed_server.headers_of("/ua.xml")[0]["user-agent"]
    assert user_agent.startswith(f"newsfetcher/{VERSION} ")


def test_conditional_get_sends_validators_and_reads_304(feed_server):
    url = feed_server.add("/cond.xml", b"", status=304)
    fetched = download(
        url, etag='"v1"', last_modified="Thu, 04 Dec 2026 08:00:00 GMT", limits=limits()
    )
    headers = feed_server.headers_of("/cond.xml")[0]
    assert fetched.not_modified
    assert headers["if-none-match"] == '"v1"'
    assert headers["if-modified-since"] == "Thu, 04 Dec 2026 08:00:00 GMT"


def test_server_error_is_retried_until_success(feed_server):
    url = feed_server.add_handler(
        "/flaky.xml",
        faults.sequence(faults.respond(500), faults.respond(502), faults.respond(200, FEED)),
    )
    fetched = download(url, limits=limits(retries=2))
    assert fetched.content == FEED
    assert feed_server.hits("/flaky.xml") == 3


def test_server_error_fails_after_retries(feed_server):
    url = feed_server.add("/down.xml", b"", status=500)
    error = fetch_error(url, retries=2)
    assert (error.code, error.http_status) == (ErrorCode.HTTP_STATUS, 500)
    assert feed_server.hits("/down.xml") == 3


@pytest.mark.parametrize(
    "status, headers",
    [(404, {}), (410, {}), (429, {}), (429, {"Retry-After": "120"}), (503, {"Retry-After": "120"})],
)
def test_status_asking_to_stop_is_not_retried(feed_server, status, headers):
    url = feed_server.add("/stop.xml", b"<html>no</html>", status=status, headers=headers)
    error = fetch_error(url)
    assert error.http_status == status
    assert feed_server.hits("/stop.xml") == 1


def test_retry_after_is_read_from_response(feed_server):
    url = feed_server.add("/slow-down.xml", b"", status=429, headers={"Retry-After": "120"})
    assert fetch_error(url).retry_after == 120


def test_retries_stop_at_overall_deadline(feed_server):
    url = feed_server.add("/down.xml", b"", status=503)
    started = time.monotonic()
    fetch_error(url, retries=50, retry_delay=0.2, deadline=1)
    assert time.monotonic() - started < 3


def test_connection_refused_is_retried_and_reported():
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    error = fetch_error(url)
    assert error.code == ErrorCode.CONNECTION_REFUSED
    assert str(error) == f"connection refused by {url}"


def test_unresolvable_host_is_dns_failure():
    error = fetch_error("http://" + "a" * 64 + ".example/feed.xml")
    assert error.code == ErrorCode.DNS_FAILURE


def test_tls_handshake_failure_is_tls_error(feed_server):
    url = feed_server.add("/plain.xml", FEED).replace("http://", "https://")
    assert fetch_error(url).code == ErrorCode.TLS_ERROR


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
def test_compressed_body_is_decoded(feed_server, encoding):
    url = feed_server.add_handler("/packed.xml", faults.compressed(FEED, encoding))
    assert download(url, limits=limits()).content == FEED
    assert "gzip" in feed_server.headers_of("/packed.xml")[0]["accept-encoding"]


def test_gzip_bomb_fails_as_too_large(feed_server):
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    url = feed_server.add("/bomb.xml", bomb, headers={"Content-Encoding": "gzip"})
    error = fetch_error(url, max_bytes=1024 * 1024)
    assert error.code == ErrorCode.TOO_LARGE
    assert "NEWS_MAX_FEED_BYTES" in str(error)


def test_gzip_bomb_is_inflated_only_to_the_cap():
    decoder = BodyDecoder("gzip", "http://bomb.example/", limits(max_bytes=1000))
    with pytest.raises(FetchError):
        decoder.decode(gzip.compress(b"\0" * (16 * 1024 * 1024)))
    assert decoder.size <= 1001


def test_corrupt_gzip_body_is_parse_error(feed_server):
    url = feed_server.add("/corrupt.xml", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert fetch_error(url).code == ErrorCode.PARSE_ERROR


def test_endless_body_fails_as_too_large(feed_server):
    url = feed_server.add_handler("/endless.xml", faults.endless())
    error = fetch_error(url, max_bytes=256 * 1024)
    assert error.code == ErrorCode.TOO_LARGE


def test_silent_server_times_out(feed_server):
    url = feed_server.add_handler("/silent.xml", faults.stall())
    started = time.monotonic()
    error = fetch_error(url, connect_timeout=0.5, read_timeout=0.5)
    assert error.code == ErrorCode.TIMEOUT
    assert time.monotonic() - started < 0.5 + 0.5 + 5


def test_trickling_server_hits_overall_deadline(feed_server):
    url = feed_server.add_handler("/trickle.xml", faults.trickle(interval=0.1))
    started = time.monotonic()
    error = fetch_error(url, read_timeout=1, deadline=1.5)
    elapsed = time.monotonic() - started
    assert error.code == ErrorCode.TIMEOUT
    assert "NEWS_FETCH_DEADLINE" in str(error)
    assert elapsed < 1.5 + 5


def test_deadline_interrupts_a_blocked_read(feed_server):
    def stall_body(wfile, server):
        server.stopping.wait(10)

    url = feed_server.add_handler("/stuck.xml", faults.headers_then(stall_body, length=100))
    started = time.monotonic()
    error = fetch_error(url, read_timeout=30, deadline=1)
    assert "NEWS_FETCH_DEADLINE" in str(error)
    # The read timeout is 30 s, so only the watchdog can end this early.
    assert time.monotonic() - started < 5


def test_redirect_is_followed(feed_server):
    target = feed_server.add("/new.xml", FEED)
    url = feed_server.add("/old.xml", b"", status=302, headers={"Location": "/new.xml"})
    fetched = download(url, limits=limits())
    assert (fetched.url, fetched.moved_to) == (target, "")


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_reports_new_url(feed_server, status):
    target = feed_server.add("/new.xml", FEED)
    url = feed_server.add("/old.xml", b"", status=status, headers={"Location": target})
    assert download(url, limits=limits()).moved_to == target


def test_redirect_loop_fails(feed_server):
    url = feed_server.add("/a.xml", b"", status=302, headers={"Location": "/b.xml"})
    feed_server.add("/b.xml", b"", status=302, headers={"Location": "/a.xml"})
    error = fetch_error(url)
    assert str(error) == f"redirect loop: {feed_server.url('/b.xml')} redirects back to {url}"


def test_too_many_redirects_fail(feed_server):
    for hop in range(10):
        location = {"Location": f"/hop{hop + 1}.xml"}
        feed_server.add(f"/hop{hop}.xml", b"", status=302, headers=location)
    error = fetch_error(feed_server.url("/hop0.xml"))
    assert "too many redirects" in str(error)
    assert feed_server.hits("/hop6.xml") == 0


@pytest.mark.parametrize("url", ["file:///etc/hostname", "ftp://127.0.0.1/feed.xml", "gopher://x/"])
def test_only_http_and_https_are_fetched(url):
    assert fetch_error(url).code == ErrorCode.INVALID_URL


def test_url_that_requests_rejects_is_invalid_url():
    # urlsplit accepts the empty first label, and requests rejects it before any lookup.
    error = fetch_error("http://.example.com/feed.xml")
    assert error.code == ErrorCode.INVALID_URL
    assert str(error).startswith("invalid feed URL http://.example.com/feed.xml: ")


def test_redirect_to_file_url_is_refused(feed_server):
    location = {"Location": "file:///etc/hostname"}
    url = feed_server.add("/to-file.xml", b"", status=302, headers=location)
    assert fetch_error(url).code == ErrorCode.INVALID_URL


@pytest.fixture
def private_addresses_blocked(settings):
    settings.NEWS_ALLOW_PRIVATE_ADDRESSES = False


@pytest.mark.usefixtures("private_addresses_blocked")
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_address_is_blocked(feed_server, host):
    url = feed_server.add("/private.xml", FEED).replace("127.0.0.1", host)
    error = fetch_error(url)
    assert error.code == ErrorCode.BLOCKED_ADDRESS
    assert "127.0.0.1" in str(error)
    assert "NEWS_ALLOW_PRIVATE_ADDRESSES" in str(error)
    assert feed_server.hits("/private.xml") == 0


@pytest.mark.parametrize(
    "address, public",
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_address_classification(address, public):
    assert addresses.is_public(address) is public


@pytest.mark.usefixtures("private_addresses_blocked")
def test_redirect_to_blocked_address_is_refused(feed_server, monkeypatch):
    # 127.0.0.1 plays a public host here, 127.0.0.2 a private one.
    monkeypatch.setattr(addresses, "is_public", lambda address: address == "127.0.0.1")
    monkeypatch.setattr(download_module, "is_public", addresses.is_public)
    target = f"http://127.0.0.2:{feed_server.port}/inside.xml"
    url = feed_server.add("/outside.xml", b"", status=302, headers={"Location": target})
    error = fetch_error(url)
    assert error.code == ErrorCode.BLOCKED_ADDRESS
    assert "127.0.0.2" in str(error)
    assert feed_server.hits("/outside.xml") == 1


@pytest.mark.usefixtures("private_addresses_blocked")
def test_connected_address_is_checked_after_lookup(feed_server, monkeypatch):
    # The resolver returned an allowed address and the name then rebound to
    # 127.0.0.1. The connected peer is checked before any request is sent.
    monkeypatch.setattr(
        download_module,
        "resolve_allowed",
        lambda host, port: [(socket.AF_INET, ("127.0.0.1", port))],
    )
    url = feed_server.add("/rebound.xml", FEED)
    error = fetch_error(url)
    assert error.code == ErrorCode.BLOCKED_ADDRESS
    assert feed_server.hits("/rebound.xml") == 0


def test_raw_deflate_decoder_accepts_zlib_and_raw():
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = raw.compress(FEED) + raw.flush()
    decoder = BodyDecoder("deflate", "http://x/", limits())
    assert decoder.decode(data) + decoder.flush() == FEED


def test_announced_length_over_cap_fails_before_reading(feed_server):
    url = feed_server.add_handler("/huge.xml", faults.trickle(interval=1, length=10**9))
    started = time.monotonic()
    error = fetch_error(url, max_bytes=1024 * 1024, read_timeout=30, deadline=30)
    assert error.code == ErrorCode.TOO_LARGE
    # The trickle sends one byte a second, so reading the body would time out.
    assert time.monotonic() - started < 5


def test_endless_body_memory_stays_bounded(feed_server):
    url = feed_server.add_handler("/endless.xml", faults.endless())
    max_bytes = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        fetch_error(url, max_bytes=max_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The body kept in memory is at most the cap; the rest is buffers.
    assert peak < 3 * max_bytes


def test_error_message_renders_in_english_for_logs(feed_server):
    url = feed_server.add("/missing.xml", b"", status=404)
    with translation.override("zh-hant"):
        error = fetch_error(url)
    assert error.message.english() == f"HTTP 404 from {url}"


def test_redirect_body_is_not_read(feed_server):
    # requests reads a redirect's whole body, decoded and uncapped, unless
    # the session leaves redirects to news.download.
    target = feed_server.add("/new.xml", FEED)
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    headers = {"Location": "/new.xml", "Content-Encoding": "gzip"}
    url = feed_server.add("/bomb-redirect.xml", bomb, status=302, headers=headers)
    tracemalloc.start()
    try:
        fetched = download(url, limits=limits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fetched.url == target
    assert peak < 8 * 1024 * 1024


def test_cookies_are_not_sent_back(feed_server):
    feed_server.add("/new.xml", FEED)
    headers = {"Location": "/new.xml", "Set-Cookie": "session=1; Path=/"}
    url = feed_server.add("/cookie.xml", b"", status=302, headers=headers)
    download(url, limits=limits())
    assert "cookie" not in feed_server.headers_of("/new.xml")[0]


def test_proxy_environment_is_ignored(feed_server, monkeypatch):
    proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = feed_server.add("/direct.xml", FEED)
    assert download(url, limits=limits()).content == FEED
    assert feed_server.hits("/direct.xml") == 1


def test_deadline_interrupts_a_stalled_tls_handshake():
    # The kernel completes the TCP handshake for a listening socket that
    # never accepts, so no server ever replies to the client's TLS hello.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/feed.xml"
        started = time.monotonic()
        error = fetch_error(url, connect_timeout=30, read_timeout=30, deadline=1)
    assert error.code == ErrorCode.TIMEOUT
    assert "NEWS_FETCH_DEADLINE" in str(error)
    # Both timeouts are 30 s, so only the watchdog can end this early.
    assert time.monotonic() - started < 5


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on 127.0.0.1 with a self-signed certificate for "localhost".

    It records the server name (SNI) of each handshake. No client trusts the
    certificate, so every handshake fails on the client's side.
    """
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names = []
    context.sni_callback = lambda ssl_socket, name, ssl_context: server_names.append(name)

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve_one():
        try:
            connection, _address = listener.accept()
        except OSError:
            return  # no client came, or the test closed the listener
        connection.settimeout(10)
        try:
            context.wrap_socket(connection, server_side=True).close()
        except OSError:
            connection.close()  # the client rejected the certificate

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    yield listener.getsockname()[1], server_names
    listener.close()
    thread.join(10)


def test_https_checks_certificate_of_host_name(tls_server):
    port, server_names = tls_server
    error = fetch_error(f"https://localhost:{port}/feed.xml", retries=0)
    assert error.code == ErrorCode.TLS_ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    # The socket connected to the address from the guard, and SNI still sent the host name.
    assert server_names == ["localhost"]


def test_truncated_body_is_connection_error(feed_server):
    def short_body(wfile, server):
        wfile.write(FEED[:50])

    url = feed_server.add_handler("/short.xml", faults.headers_then(short_body, length=len(FEED)))
    error = fetch_error(url, retries=1)
    assert error.code == ErrorCode.CONNECTION_ERROR
    assert "IncompleteRead" in str(error)
    assert feed_server.hits("/short.xml") == 2


def test_non_ascii_path_is_percent_encoded(feed_server):
    feed_server.add("/%E6%96%B0%E8%81%9E.xml", FEED)
    fetched = download(feed_server.url("/新聞.xml"), limits=limits())
    assert fetched.content == FEED
    assert feed_server.hits("/%E6%96%B0%E8%81%9E.xml") == 1
