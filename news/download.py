"""Download one feed over HTTP with hard limits on time and size.

This is the only module that talks to feed servers. Every failure leaves it
as a FetchError with a code from ErrorCode and a message a person can act on.
"""

import datetime
import logging
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings

from news.models import ErrorCode
from news.version import USER_AGENT

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024


class FetchError(Exception):
    """A source could not be fetched or read.

    `code` is an ErrorCode value; `http_status` is set when the server sent a
    status; `retry_after` is the number of seconds the server asked to wait.
    """

    def __init__(self, code, message, *, http_status=None, retry_after=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    connect_timeout: float
    read_timeout: float
    deadline: float
    max_bytes: int

    @classmethod
    def from_settings(cls):
        return cls(
            connect_timeout=settings.NEWS_CONNECT_TIMEOUT,
            read_timeout=settings.NEWS_READ_TIMEOUT,
            deadline=settings.NEWS_FETCH_DEADLINE,
            max_bytes=settings.NEWS_MAX_FEED_BYTES,
        )


@dataclass
class Download:
    url: str
    status: int
    content: bytes = b""
    headers: dict = field(default_factory=dict)
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self):
        return self.status == 304

    @property
    def content_type(self):
        return self.headers.get("content-type", "")


def download(url, *, etag="", last_modified="", limits=None, session=None):
    """Fetch `url` and return a Download, or raise FetchError.

    Sends a conditional GET when `etag` or `last_modified` is given; a 304
    comes back as a Download with no content.
    """
    limits = limits or Limits.from_settings()
    headers = {
        "User-Agent": settings.NEWS_USER_AGENT or USER_AGENT,
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
        "text/xml;q=0.8, */*;q=0.1",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified

    http = session or requests.Session()
    started = time.monotonic()
    try:
        response = http.get(
            url,
            headers=headers,
            timeout=(limits.connect_timeout, limits.read_timeout),
            stream=True,
        )
    except requests.exceptions.RequestException as exc:
        raise _error_from_exception(exc, url, limits) from exc

    with response:
        if response.status_code == 304:
            return Download(url=response.url, status=304, headers=dict(response.headers))
        if response.status_code >= 400:
            raise FetchError(
                ErrorCode.HTTP_STATUS,
                f"HTTP {response.status_code} from {url}",
                http_status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        content = _read_body(response, url, limits, started)

    return Download(
        url=response.url,
        status=response.status_code,
        content=content,
        headers={name.lower(): value for name, value in response.headers.items()},
        etag=response.headers.get("ETag", ""),
        last_modified=response.headers.get("Last-Modified", ""),
    )


def _read_body(response, url, limits, started):
    """Read the (decompressed) body within the size cap and overall deadline."""
    chunks = []
    size = 0
    try:
        for chunk in response.iter_content(CHUNK_SIZE):
            size += len(chunk)
            if size > limits.max_bytes:
                raise FetchError(
                    ErrorCode.TOO_LARGE,
                    f"response from {url} is larger than {limits.max_bytes} bytes "
                    "(NEWS_MAX_FEED_BYTES)",
                )
            if time.monotonic() - started > limits.deadline:
                raise _deadline_error(url, limits)
            chunks.append(chunk)
    except requests.exceptions.RequestException as exc:
        raise _error_from_exception(exc, url, limits) from exc
    return b"".join(chunks)


def _deadline_error(url, limits):
    return FetchError(
        ErrorCode.TIMEOUT,
        f"timed out after {limits.deadline:g} s: {url} did not finish sending "
        "(NEWS_FETCH_DEADLINE)",
    )


def _error_from_exception(exc, url, limits):
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return FetchError(
            ErrorCode.TIMEOUT,
            f"timed out after {limits.connect_timeout:g} s connecting to {url}",
        )
    if isinstance(exc, (requests.exceptions.ReadTimeout, requests.exceptions.Timeout)):
        return FetchError(
            ErrorCode.TIMEOUT,
            f"timed out after {limits.read_timeout:g} s waiting for {url}",
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and _is_read_timeout(exc):
        return FetchError(
            ErrorCode.TIMEOUT,
            f"timed out after {limits.read_timeout:g} s waiting for {url}",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return FetchError(ErrorCode.TLS_ERROR, f"TLS error with {url}: {exc}")
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return FetchError(ErrorCode.HTTP_STATUS, f"too many redirects from {url}")
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return FetchError(ErrorCode.INVALID_URL, f"invalid feed URL {url}: {exc}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Name or service not known" in text or "getaddrinfo" in text or "NameResolution" in text:
            return FetchError(ErrorCode.DNS_FAILURE, f"could not resolve the host of {url}")
        if "Connection refused" in text or "Errno 111" in text:
            return FetchError(ErrorCode.CONNECTION_REFUSED, f"connection refused by {url}")
        return FetchError(ErrorCode.CONNECTION_ERROR, f"connection to {url} failed: {exc}")
    return FetchError(ErrorCode.CONNECTION_ERROR, f"request to {url} failed: {exc}")


def _is_read_timeout(exc):
    # urllib3 reports a read timeout inside iter_content as a ConnectionError
    # wrapping ReadTimeoutError.
    return "Read timed out" in str(exc)


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
