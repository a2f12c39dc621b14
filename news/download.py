"""Download one feed over HTTP with hard limits on time, size and addresses.

This is the only module that talks to feed servers. It runs http.client on
sockets it opens itself, so it can check the address it connects to. It can
also shut the socket down when the overall deadline passes, even while a read
is blocked, and inflate gzip or deflate bodies only up to the size cap. Every
failure leaves it as a FetchError with a code from ErrorCode and a message a
person can act on.
"""

import datetime
import http.client
import logging
import random
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from news.addresses import BlockedAddress, is_public, resolve_allowed
from news.messages import Message
from news.models import ErrorCode
from news.version import USER_AGENT

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
PERMANENT_REDIRECT_STATUSES = {301, 308}
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
    "text/xml;q=0.8, */*;q=0.1"
)


class FetchError(Exception):
    """A source could not be fetched or read.

    `code` is an ErrorCode value. `http_status` is set when the server sent a
    status, and `retry_after` is the number of seconds the server asked to
    wait. `url` is the address that sent the status. `transient` marks
    failures that a retry within the run may fix.
    """

    def __init__(
        self, code, message, *, http_status=None, retry_after=None, transient=False, url=""
    ):
        super().__init__(message)
        # A news.messages.Message: str() for users, .english() for logs.
        self.url = url
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retry_after = retry_after
        self.transient = transient


@dataclass(frozen=True)
class Limits:
    connect_timeout: float
    read_timeout: float
    deadline: float
    max_bytes: int
    retries: int = 0
    retry_delay: float = 0.5

    @classmethod
    def from_settings(cls):
        return cls(
            connect_timeout=settings.NEWS_CONNECT_TIMEOUT,
            read_timeout=settings.NEWS_READ_TIMEOUT,
            deadline=settings.NEWS_FETCH_DEADLINE,
            max_bytes=settings.NEWS_MAX_FEED_BYTES,
            retries=settings.NEWS_FETCH_RETRIES,
            retry_delay=settings.NEWS_FETCH_RETRY_DELAY,
        )


@dataclass
class Download:
    url: str
    status: int
    content: bytes = b""
    headers: dict = field(default_factory=dict)
    etag: str = ""
    last_modified: str = ""
    # The new address when every redirect on the way was permanent (301, 308).
    moved_to: str = ""

    @property
    def not_modified(self):
        return self.status == 304

    @property
    def content_type(self):
        return self.headers.get("content-type", "")


def user_agent():
    return settings.NEWS_USER_AGENT or USER_AGENT


def download(url, *, etag="", last_modified="", limits=None):
    """Fetch `url` and return a Download, or raise FetchError.

    Sends a conditional GET when `etag` or `last_modified` is given, and a
    304 comes back as a Download with no content. Connection errors and 5xx
    statuses are retried with exponential backoff and jitter while the
    overall deadline allows. A 4xx, a 429 and a 503 with Retry-After are not
    retried.
    """
    limits = limits or Limits.from_settings()
    headers = {"User-Agent": user_agent(), "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    deadline = Deadline(limits.deadline)
    attempt = 0
    while True:
        try:
            return _follow_redirects(url, headers, limits, deadline)
        except FetchError as exc:
            if not exc.transient or attempt >= limits.retries:
                raise
            delay = limits.retry_delay * 2**attempt * random.uniform(0.5, 1.5)
            if delay >= deadline.remaining():
                raise
            attempt += 1
            logger.info(
                "retrying %s in %.2f s after %s (retry %d of %d)",
                url,
                delay,
                exc.code,
                attempt,
                limits.retries,
            )
            time.sleep(delay)


def _follow_redirects(url, headers, limits, deadline):
    visited = [url]
    current = url
    permanent = True
    for _hop in range(MAX_REDIRECTS + 1):
        exchange = Exchange.open(current, headers, limits, deadline)
        with exchange:
            status = exchange.response.status
            location = exchange.response.getheader("Location")
            if status in REDIRECT_STATUSES and location:
                target = urljoin(current, location.strip())
                _check_redirect_target(current, target, visited)
                permanent = permanent and status in PERMANENT_REDIRECT_STATUSES
                visited.append(target)
                current = target
                continue
            fetched = _finish(exchange, current, limits, deadline)
        if permanent and current != url:
            fetched.moved_to = current
        return fetched
    raise FetchError(
        ErrorCode.HTTP_STATUS,
        Message(
            _("too many redirects from %(url)s (more than %(max)d)"),
            {"url": url, "max": MAX_REDIRECTS},
        ),
    )


def _check_redirect_target(current, target, visited):
    if urlsplit(target).scheme not in ("http", "https"):
        raise FetchError(
            ErrorCode.INVALID_URL,
            Message(
                _("%(url)s redirects to %(target)s, which is not an http or https URL"),
                {"url": current, "target": target},
            ),
        )
    if target in visited:
        raise FetchError(
            ErrorCode.HTTP_STATUS,
            Message(
                _("redirect loop: %(url)s redirects back to %(target)s"),
                {"url": current, "target": target},
            ),
        )


def _finish(exchange, url, limits, deadline):
    response = exchange.response
    headers = {name.lower(): value for name, value in response.getheaders()}
    if response.status == 304:
        return Download(url=url, status=304, headers=headers)
    if response.status >= 400 or response.status < 200 or response.status in REDIRECT_STATUSES:
        raise status_error(response.status, url, headers.get("retry-after"))
    content = exchange.read_body(limits, deadline)
    return Download(
        url=url,
        status=response.status,
        content=content,
        headers=headers,
        etag=headers.get("etag", ""),
        last_modified=headers.get("last-modified", ""),
    )


def status_error(status, url, retry_after_header=None):
    """Return the FetchError for an error `status` from `url`."""
    retry_after = parse_retry_after(retry_after_header)
    # A 503 with Retry-After is a request to wait, like a 429. The host wait
    # in news.hosts handles both, so neither is retried within the run.
    transient = status >= 500 and not (status == 503 and retry_after is not None)
    return FetchError(
        ErrorCode.HTTP_STATUS,
        Message(_("HTTP %(status)d from %(url)s"), {"status": status, "url": url}),
        http_status=status,
        retry_after=retry_after,
        transient=transient,
        url=url,
    )


class Deadline:
    """The overall time limit of one download, enforced by a watchdog.

    The watchdog shuts a socket down when the time is up, which wakes a read
    blocked in another frame. A server that sends one byte just often enough
    to beat the read timeout is therefore cut off too.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.fired = False

    def remaining(self):
        return self.ends_at - time.monotonic()

    @property
    def passed(self):
        return self.fired or self.remaining() <= 0

    def watch(self, sock):
        """Start a timer that shuts `sock` down at the deadline, and return the timer."""
        timer = threading.Timer(max(self.remaining(), 0), self._expire, args=(sock,))
        timer.daemon = True
        timer.start()
        return timer

    def _expire(self, sock):
        self.fired = True
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def error(self, url):
        return FetchError(
            ErrorCode.TIMEOUT,
            Message(
                _(
                    "timed out after %(seconds)g s: %(url)s did not finish sending "
                    "(NEWS_FETCH_DEADLINE)"
                ),
                {"seconds": self.seconds, "url": url},
            ),
        )


class Exchange:
    """One HTTP request and its response on a socket this module opened."""

    def __init__(self, url, connection, response, watchdog, deadline):
        self.url = url
        self.connection = connection
        self.response = response
        self.watchdog = watchdog
        self.deadline = deadline

    @classmethod
    def open(cls, url, headers, limits, deadline):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(
                ErrorCode.INVALID_URL,
                Message(
                    _("invalid feed URL %(url)s: only http and https URLs are fetched"),
                    {"url": url},
                ),
            )
        if deadline.passed:
            raise deadline.error(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchError(
                ErrorCode.INVALID_URL, Message(_("invalid port in feed URL %(url)s"), {"url": url})
            ) from None

        sock = _connect(url, parts.hostname, port, limits, deadline)
        watchdog = deadline.watch(sock)
        try:
            connection = _http_connection(parts, port, sock, limits)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
        except (FetchError, OSError, http.client.HTTPException, ValueError) as exc:
            # Only network and protocol errors: anything else, such as RQ's
            # job timeout raised from a signal handler, must reach the job.
            watchdog.cancel()
            sock.close()
            if isinstance(exc, FetchError):
                raise
            raise _error_from_exception(exc, url, limits, deadline) from exc
        return cls(url, connection, response, watchdog, deadline)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self.watchdog.cancel()
        # With "Connection: close" http.client hands the socket over to the
        # response, so closing the connection alone would leave it open.
        self.response.close()
        self.connection.close()

    def read_body(self, limits, deadline):
        """Read and decode the body within the size cap and the deadline."""
        decoder = BodyDecoder(self.response.getheader("Content-Encoding", ""), self.url, limits)
        decoder.check_length(self.response.getheader("Content-Length"))
        chunks = []
        try:
            while True:
                raw = self.response.read1(CHUNK_SIZE)
                if deadline.passed:
                    raise deadline.error(self.url)
                if not raw:
                    break
                chunks.append(decoder.decode(raw))
            chunks.append(decoder.flush())
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _error_from_exception(exc, self.url, limits, deadline) from exc
        return b"".join(chunks)


def _connect(url, host, port, limits, deadline):
    """Open a TCP connection to an allowed address of `host` and return the socket."""
    try:
        addresses = resolve_allowed(host, port)
    except BlockedAddress as exc:
        raise FetchError(ErrorCode.BLOCKED_ADDRESS, exc.message) from None
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(
            ErrorCode.DNS_FAILURE,
            Message(
                _("could not resolve the host of %(url)s: %(error)s"),
                {"url": url, "error": exc},
            ),
        ) from None

    last_error = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(max(min(limits.connect_timeout, deadline.remaining()), 0.001))
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        # Check the connected peer as well, so a request is only ever sent to
        # an address that passed the check.
        peer = sock.getpeername()[0]
        if not settings.NEWS_ALLOW_PRIVATE_ADDRESSES and not is_public(peer):
            sock.close()
            raise FetchError(ErrorCode.BLOCKED_ADDRESS, BlockedAddress(host, peer).message)
        sock.settimeout(limits.read_timeout)
        return sock
    raise _error_from_exception(last_error, url, limits, deadline, connecting=True)


def _http_connection(parts, port, sock, limits):
    if parts.scheme == "https":
        context = ssl.create_default_context()
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        connection = http.client.HTTPSConnection(parts.hostname, port, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname, port)
    # http.client connects only when it has no socket, so it uses this one.
    connection.sock = sock
    connection.timeout = limits.read_timeout
    return connection


class BodyDecoder:
    """Undo gzip or deflate Content-Encoding without inflating past the cap."""

    def __init__(self, encoding, url, limits):
        self.encoding = encoding.strip().lower()
        self.url = url
        self.max_bytes = limits.max_bytes
        self.size = 0
        if self.encoding in ("", "identity"):
            self.inflater = None
        elif self.encoding in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS reads both gzip and zlib headers. Some servers
            # send raw deflate as "deflate", and _inflate then switches to it.
            self.inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise FetchError(
                ErrorCode.PARSE_ERROR,
                Message(
                    _("%(url)s sent Content-Encoding %(encoding)s, which is not supported"),
                    {"url": url, "encoding": encoding},
                ),
            )

    def decode(self, raw):
        if self.inflater is None:
            return self._count(raw)
        return self._inflate(raw)

    def flush(self):
        if self.inflater is None:
            return b""
        return self._count(self.inflater.flush())

    def _inflate(self, data):
        output = []
        while data:
            try:
                piece = self.inflater.decompress(data, self.max_bytes - self.size + 1)
            except zlib.error as exc:
                if self.size == 0 and self.encoding == "deflate" and not output:
                    self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError(
                    ErrorCode.PARSE_ERROR,
                    Message(
                        _("%(url)s sent a corrupt %(encoding)s body: %(error)s"),
                        {"url": self.url, "encoding": self.encoding, "error": exc},
                    ),
                ) from None
            output.append(self._count(piece))
            data = self.inflater.unconsumed_tail
        return b"".join(output)

    def check_length(self, content_length):
        """Raise TOO_LARGE early when an uncompressed body announces more than the cap."""
        if self.inflater is None and content_length and content_length.strip().isdigit():
            if int(content_length) > self.max_bytes:
                raise self._too_large()

    def _count(self, data):
        self.size += len(data)
        if self.size > self.max_bytes:
            raise self._too_large()
        return data

    def _too_large(self):
        return FetchError(
            ErrorCode.TOO_LARGE,
            Message(
                _("response from %(url)s is larger than %(max)d bytes (NEWS_MAX_FEED_BYTES)"),
                {"url": self.url, "max": self.max_bytes},
            ),
        )


def _error_from_exception(exc, url, limits, deadline, *, connecting=False):
    if deadline.passed:
        return deadline.error(url)
    if isinstance(exc, TimeoutError):
        if connecting:
            return FetchError(
                ErrorCode.TIMEOUT,
                Message(
                    _("timed out after %(seconds)g s connecting to %(url)s"),
                    {"seconds": limits.connect_timeout, "url": url},
                ),
                transient=True,
            )
        return FetchError(
            ErrorCode.TIMEOUT,
            Message(
                _("timed out after %(seconds)g s waiting for %(url)s"),
                {"seconds": limits.read_timeout, "url": url},
            ),
        )
    if isinstance(exc, ConnectionRefusedError):
        return FetchError(
            ErrorCode.CONNECTION_REFUSED,
            Message(_("connection refused by %(url)s"), {"url": url}),
            transient=True,
        )
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return FetchError(
            ErrorCode.TLS_ERROR,
            Message(
                _("TLS error with %(url)s: %(error)s"),
                {"url": url, "error": exc},
            )
        )
    return FetchError(
        ErrorCode.CONNECTION_ERROR,
        Message(
            _("connection to %(url)s failed: %(error)s"),
            {"url": url, "error": f"{exc.__class__.__name__}: {exc}"},
        ),
        transient=True,
    )


def parse_retry_after(value):
    """Return the seconds in a Retry-After header, or None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    delta = when - datetime.datetime.now(datetime.timezone.utc)
    return max(0, int(delta.total_seconds()))
