"""Handlers for FeedServer routes that misbehave the way real feed hosts do.

Each factory returns handler(request_handler, server). Every handler stops
by itself: after a bounded number of bytes or seconds, when the client goes
away, or when the server shuts down.
"""

import gzip
import itertools
import time
import zlib


def stall(seconds=10):
    """Accept the request and never send a response."""

    def handler(request, server):
        server.stopping.wait(seconds)

    return handler


def headers_then(write_body, *, content_type="application/rss+xml", length=None):
    """Send a 200 with headers, then let `write_body(wfile, server)` write the body."""

    def handler(request, server):
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        if length is not None:
            request.send_header("Content-Length", str(length))
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        try:
            write_body(request.wfile, server)
        except OSError:
            pass  # the client hung up, which is what the tests expect

    return handler


def trickle(interval=0.2, max_seconds=15, length=None):
    """Send `<rss` one byte per `interval`, never finishing.

    `length` is the Content-Length to announce; without it the body runs
    until the connection closes.
    """

    def write_body(wfile, server):
        started = time.monotonic()
        for byte in itertools.cycle(b"<rss version='2.0'>"):
            if server.stopping.is_set() or time.monotonic() - started > max_seconds:
                return
            wfile.write(bytes([byte]))
            wfile.flush()
            time.sleep(interval)

    return headers_then(write_body, length=length)


def endless(max_bytes=50 * 1024 * 1024):
    """Send a body that never ends, as fast as the client reads it."""

    def write_body(wfile, server):
        chunk = b"<item><title>x</title></item>" * 1000
        sent = 0
        while sent < max_bytes and not server.stopping.is_set():
            wfile.write(chunk)
            sent += len(chunk)

    return headers_then(write_body)


def compressed(body, encoding="gzip", content_type="application/rss+xml"):
    """Send `body` compressed with `encoding` (gzip, deflate or raw-deflate)."""
    if encoding == "gzip":
        data = gzip.compress(body)
    elif encoding == "deflate":
        data = zlib.compress(body)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        data = compressor.compress(body) + compressor.flush()
        encoding = "deflate"

    def handler(request, server):
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Encoding", encoding)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    return handler


def respond(status, body=b"", headers=None):
    """Return a plain response as a (status, body, headers) step for `sequence`."""
    return status, body, headers or {}


def sequence(*steps):
    """Respond to each request with the next step, repeating the last step."""
    remaining = list(steps)

    def handler(request, server):
        status, body, headers = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        request._send(status, body, headers)

    return handler
