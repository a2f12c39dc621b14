"""A real HTTP server on 127.0.0.1 that plays feed hosts for the tests.

Each path is given a Route: a fixed response, or a handler function that
writes the response itself (for stalls, trickles and scripted sequences).
The server counts the requests of each path and keeps their headers.
"""

import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # Tests that hang up on a response on purpose make its writes fail.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    handler: object = None


class FeedServer:
    def __init__(self):
        self.routes = {}
        self.requests = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.httpd = _QuietHTTPServer(("127.0.0.1", 0), self._make_handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def stopping(self):
        return self._stopping

    @property
    def port(self):
        return self.httpd.server_address[1]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path, body=b"", *, status=200, content_type="application/rss+xml", headers=None):
        """Serve a fixed response at `path` and return its URL."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = {"Content-Type": content_type} if content_type else {}
        all_headers.update(headers or {})
        self.routes[path] = Route(body=body, status=status, headers=all_headers)
        return self.url(path)

    def add_file(self, path, file_path, *, content_type=None, headers=None):
        file_path = Path(file_path)
        content_type = content_type or CONTENT_TYPES.get(file_path.suffix, "application/xml")
        return self.add(path, file_path.read_bytes(), content_type=content_type, headers=headers)

    def add_handler(self, path, handler):
        """Serve `path` with handler(request_handler, server); return its URL."""
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def hits(self, path):
        with self._lock:
            return sum(1 for request in self.requests if request["path"] == path)

    def headers_of(self, path):
        with self._lock:
            return [request["headers"] for request in self.requests if request["path"] == path]

    def _record(self, path, headers):
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "time": time.monotonic()})

    def _make_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                path = self.path
                server._record(path, {name.lower(): value for name, value in self.headers.items()})
                route = server.routes.get(path)
                if route is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                if route.handler is not None:
                    route.handler(self, server)
                    return
                self._send(route.status, route.body, route.headers)

            def _send(self, status, body, headers):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        return Handler


def rss(*items, title="測試來源", extra_channel=""):
    """Return RSS 2.0 bytes with the given <item> bodies."""
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://example.com/</link>{extra_channel}{body}</channel></rss>"
    ).encode("utf-8")


def item(guid, title, *, link=None, date="Thu, 04 Dec 2026 08:00:00 GMT", extra=""):
    parts = [f"<guid>{guid}</guid>" if guid else "", f"<title>{title}</title>"]
    if link is not False:
        parts.append(f"<link>{link or 'http://example.com/' + str(guid)}</link>")
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append(extra)
    return "".join(parts)
