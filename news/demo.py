"""An offline demo: serve saved feed files on 127.0.0.1 and fetch them."""

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from django.utils.translation import gettext as _

from news.models import Source
from news.sources import add_feed_source

FEED_SUFFIXES = (".xml", ".rss", ".atom")


class FeedFileHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        ".xml": "application/xml",
        ".rss": "application/rss+xml",
        ".atom": "application/atom+xml",
    }

    def log_message(self, format, *args):
        pass


class FeedFileServer:
    """A threaded HTTP server for the files of one folder, on 127.0.0.1."""

    def __init__(self, folder, port=0):
        handler = functools.partial(FeedFileHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, relative_path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{quote(relative_path)}"


def feed_files(folder):
    folder = Path(folder)
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in FEED_SUFFIXES
    )


def demo_sources(server, relative_paths):
    """Return a disabled source for each file, adding the missing ones.

    The sources stay disabled, so scheduled runs after the demo, when
    nothing serves these files any more, leave them alone.
    """
    sources = []
    for relative_path in relative_paths:
        # Found by the file's path on any earlier port, not by its name,
        # which is translated and so differs between languages.
        earlier = r"^http://127\.0\.0\.1:[0-9]+/" + re.escape(quote(relative_path)) + "$"
        source = Source.objects.filter(url__regex=earlier).first()
        if source is None:
            name = _("Demo: %(file)s") % {"file": relative_path}
            source = add_feed_source(server.url(relative_path), name=name)
        source.url = server.url(relative_path)
        source.enabled = False
        source.save(update_fields=["url", "enabled"])
        sources.append(source)
    return sources
