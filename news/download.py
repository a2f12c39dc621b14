"""Download one feed over HTTP with hard limits on time, size and addresses.

This is the only module that talks to feed servers. It sends requests with
`requests` on a session from news.http_session, whose sockets this module
opens itself, so it can check the address it connects to. A watchdog shuts
those sockets down when the overall deadline passes, even while a read is
blocked. Redirects are followed here, one checked hop at a time, and gzip or
deflate bodies are inflated only up to the size cap. Every failure leaves it
as a FetchError with a code from ErrorCode and a message a person can act on.
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

import requests
import urllib3.exceptions
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from news.addresses import BlockedAddress, is_public, resolve_allowed
from news.http_session import guarded_session
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
            # A fresh session per attempt, so a retry never reuses a
            # connection that has just failed.
            with Client(limits, deadline) as client:
                return _follow_redirects(client, url, headers)
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


def _follow_redirects(client, url, headers):
    visited = [url]
    current = url
    permanent = True
    for _hop in range(MAX_REDIRECTS + 1):
        with client.open(current, headers) as exchange:
            status = exchange.status
            location = exchange.headers.get("location")
            if status in REDIRECT_STATUSES and location:
                target = urljoin(current, location.strip())
                _check_redirect_target(current, target, visited)
                permanent = permanent and status in PERMANENT_REDIRECT_STATUSES
                visited.append(target)
                current = target
                continue
            fetched = _finish(exchange, current)
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


def _finish(exchange, url):
    status = exchange.status
    headers = exchange.headers
    if status == 304:
        return Download(url=url, status=304, headers=headers)
    if status >= 400 or status < 200 or status in REDIRECT_STATUSES:
        raise status_error(status, url, headers.get("retry-after"))
    content = exchange.read_body()
    return Download(
        url=url,
        status=status,
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
    """The overall time limit of one download, across its retries and redirects."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        # Set by a Watchdog when it shuts the sockets down.
        self.fired = False

    def remaining(self):
        return self.ends_at - time.monotonic()

    @property
    def passed(self):
        return self.fired or self.remaining() <= 0

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


class Watchdog:
    """A timer that shuts down the watched sockets when a Deadline passes.

    Shutting a socket down wakes a read blocked in another frame, so a
    server that sends one byte just often enough to beat the read timeout is
    cut off too. Call stop() once the sockets are no longer used.
    """

    def __init__(self, deadline):
        self.deadline = deadline
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = None

    def watch(self, sock):
        # The watchdog keeps a duplicate descriptor because urllib3 wraps an
        # https socket in TLS, which detaches the original socket object.
        # shutdown() acts on the connection, so the duplicate still ends a
        # read on the TLS socket, and also a TLS handshake that stalls.
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self._timer is None:
                self._timer = threading.Timer(max(self.deadline.remaining(), 0), self._expire)
                self._timer.daemon = True
                self._timer.start()
            if self.deadline.fired:
                _shut_down(duplicate)

    def _expire(self):
        with self._lock:
            self.deadline.fired = True
            for sock in self._sockets:
                _shut_down(sock)

    def stop(self):
        """Cancel the timer and close the duplicate descriptors."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            for sock in self._sockets:
                sock.close()
            self._sockets = []


def _shut_down(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the peer or urllib3 has already closed the connection


# Errors of the network and of HTTP framing, which become FetchErrors. Other
# exceptions, such as RQ's job timeout raised from a signal handler, must
# reach the job. requests' exceptions are OSErrors, and several of them,
# such as InvalidURL and InvalidHeader, are ValueErrors too.
NETWORK_ERRORS = (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException, ValueError)


class Client:
    """The requests session of one download attempt, limited by `limits` and `deadline`.

    Every connection goes to an address that passed the guard in
    news.addresses and is watched by the attempt's Watchdog. Use it as a
    context manager, so its connections close and the watchdog stops.
    """

    def __init__(self, limits, deadline):
        self.limits = limits
        self.deadline = deadline
        self.watchdog = Watchdog(deadline)
        self.session = guarded_session(self._open_socket)
        # The URL being requested, for the messages of connection errors.
        self._url = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        try:
            self.session.close()
        finally:
            self.watchdog.stop()

    def open(self, url, headers):
        """Send a GET for `url` and return its Exchange once the response headers are in.

        Redirects are not followed. The caller reads or closes the Exchange.
        """
        _check_url(url)
        if self.deadline.passed:
            raise self.deadline.error(url)
        self._url = url
        try:
            response = self.session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(self.limits.connect_timeout, self.limits.read_timeout),
            )
        except NETWORK_ERRORS as exc:
            raise _error_from_exception(exc, url, self.limits, self.deadline) from exc
        return Exchange(url, response, self.limits, self.deadline)

    def _open_socket(self, host, port):
        sock = _connect(self._url, host, port, self.limits, self.deadline)
        self.watchdog.watch(sock)
        return sock


def _check_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(
            ErrorCode.INVALID_URL,
            Message(
                _("invalid feed URL %(url)s: only http and https URLs are fetched"),
                {"url": url},
            ),
        )
    try:
        parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise FetchError(
            ErrorCode.INVALID_URL, Message(_("invalid port in feed URL %(url)s"), {"url": url})
        ) from None


class Exchange:
    """One response of a Client, whose status and headers are read and whose body is not yet."""

    def __init__(self, url, response, limits, deadline):
        self.url = url
        self.response = response
        self.limits = limits
        self.deadline = deadline
        self.status = response.status_code
        # Lowercase names. A repeated header keeps its last value, as
        # http.client's getheaders() did, where response.headers would join
        # the values with commas.
        self.headers = {name.lower(): value for name, value in response.raw.headers.items()}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        # An unread body makes urllib3 close the connection instead of
        # returning it to the pool.
        self.response.close()

    def read_body(self):
        """Read and decode the body within the size cap and the deadline."""
        decoder = BodyDecoder(self.headers.get("content-encoding", ""), self.url, self.limits)
        decoder.check_length(self.headers.get("content-length"))
        chunks = []
        try:
            while True:
                # Undecoded bytes, so that BodyDecoder counts the inflated
                # bytes against the size cap and raises FetchError.
                raw = self.response.raw.read(CHUNK_SIZE, decode_content=False)
                if self.deadline.passed:
                    raise self.deadline.error(self.url)
                if not raw:
                    break
                chunks.append(decoder.decode(raw))
            chunks.append(decoder.flush())
        except NETWORK_ERRORS as exc:
            raise _error_from_exception(exc, self.url, self.limits, self.deadline) from exc
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
    cause = _root_cause(exc)
    if isinstance(exc, requests.exceptions.InvalidURL):
        return FetchError(
            ErrorCode.INVALID_URL,
            Message(_("invalid feed URL %(url)s: %(error)s"), {"url": url, "error": cause}),
        )
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(
        cause, (TimeoutError, urllib3.exceptions.TimeoutError)
    ):
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
    if isinstance(cause, ConnectionRefusedError):
        return FetchError(
            ErrorCode.CONNECTION_REFUSED,
            Message(_("connection refused by %(url)s"), {"url": url}),
            transient=True,
        )
    if isinstance(cause, (ssl.SSLError, ssl.CertificateError, urllib3.exceptions.SSLError)):
        return FetchError(
            ErrorCode.TLS_ERROR,
            Message(
                _("TLS error with %(url)s: %(error)s"),
                {"url": url, "error": cause},
            )
        )
    return FetchError(
        ErrorCode.CONNECTION_ERROR,
        Message(
            _("connection to %(url)s failed: %(error)s"),
            {"url": url, "error": f"{cause.__class__.__name__}: {cause}"},
        ),
        transient=True,
    )


def _root_cause(exc):
    """Return the exception that requests and urllib3 wrapped around, or `exc` itself.

    requests.ConnectionError(MaxRetryError(reason=SSLError(ssl.SSLError)))
    becomes the ssl.SSLError, and ProtocolError("Connection aborted.",
    RemoteDisconnected(...)) becomes the RemoteDisconnected.
    """
    wrappers = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)
    for _level in range(10):
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            exc = exc.reason
        elif isinstance(exc, wrappers) and exc.args and isinstance(exc.args[-1], BaseException):
            exc = exc.args[-1]
        else:
            break
    return exc


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
