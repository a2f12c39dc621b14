from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from news.demo import FeedFileServer, demo_sources, feed_files
from news.sources import SourceError

# Any free port: each demo stores the URL it serves from.
DEFAULT_PORT = 0


class Command(BaseCommand):
    help = _(
        "Serve the feed files of a folder on 127.0.0.1 and fetch them as disabled demo "
        "sources, with no internet access. Needs NEWS_ALLOW_PRIVATE_ADDRESSES=1."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help=_("Folder with .xml, .rss or .atom feed files."))
        parser.add_argument(
            "--port",
            type=int,
            default=DEFAULT_PORT,
            help=_("Port on 127.0.0.1 to serve the files from (default: any free port)."),
        )

    def handle(self, *args, folder, port, **options):
        if not settings.NEWS_ALLOW_PRIVATE_ADDRESSES:
            raise CommandError(
                _("The demo serves feeds on 127.0.0.1, which the fetcher rejects unless "
                  "NEWS_ALLOW_PRIVATE_ADDRESSES=1. Run it with `make demo`."),
                returncode=2,
            )
        files = feed_files(folder) if Path(folder).is_dir() else []
        if not files:
            raise CommandError(
                _("No .xml, .rss or .atom files found in %(folder)s.") % {"folder": folder},
                returncode=2,
            )
        try:
            server = FeedFileServer(folder, port)
        except OSError as exc:
            raise CommandError(
                _("Cannot serve the demo feeds on 127.0.0.1:%(port)s (%(error)s). "
                  "Choose another port with --port.") % {"port": port, "error": exc},
                returncode=2,
            ) from None
        with server:
            try:
                sources = demo_sources(server, files)
            except SourceError as exc:
                raise CommandError(str(exc), returncode=2) from None
            arguments = []
            for source in sources:
                arguments += ["--source", source.name]
            call_command("fetch_news", *arguments, stdout=self.stdout, stderr=self.stderr)
