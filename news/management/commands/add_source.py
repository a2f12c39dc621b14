from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from news.sources import SourceError, add_feed_source, add_google_news_source


class Command(BaseCommand):
    help = _(
        "Add a feed source: a plain RSS or Atom URL, or a Google News feed built "
        "from a topic or search query. Exits 2 when the source is invalid or "
        "already exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("url", nargs="?", help=_("URL of an RSS or Atom feed."))
        parser.add_argument("--name", default="", help=_("Name shown in the admin."))
        parser.add_argument(
            "--google-news",
            action="store_true",
            help=_("Add a Google News feed instead of a URL (top stories by default)."),
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--topic", help=_("Google News section such as BUSINESS, or a topic id.")
        )
        group.add_argument("--search", help=_("Google News search query."))
        group.add_argument("--geo", help=_("Google News location, such as Taipei."))
        parser.add_argument(
            "--when",
            default="",
            help=_("Time window for a search: a number and h, d, m or y, such as 1h or 7d."),
        )
        parser.add_argument("--hl", default="", help=_("Language, default zh-TW."))
        parser.add_argument("--gl", default="", help=_("Region, default TW."))
        parser.add_argument("--ceid", default="", help=_("Edition, default TW:zh-Hant."))

    def handle(self, *args, **options):
        try:
            source = self._add(options)
        except SourceError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(
            self.style.SUCCESS(
                _("Added source %(id)s %(name)s: %(url)s")
                % {"id": source.pk, "name": source.name, "url": source.url}
            )
        )

    def _add(self, options):
        if not options["google_news"]:
            if not options["url"]:
                raise SourceError(_("Give a feed URL, or --google-news for a Google News feed."))
            google_news_parts = (options["topic"], options["search"], options["geo"])
            if any(part is not None for part in google_news_parts) or options["when"]:
                raise SourceError(
                    _("--topic, --search, --geo and --when need --google-news.")
                )
            return add_feed_source(options["url"], name=options["name"])
        if options["url"]:
            raise SourceError(_("Give either a URL or --google-news, not both."))
        # An option given with an empty value still picks its feed type, so
        # `--search ""` is rejected as an empty search, not read as top stories.
        if options["topic"] is not None:
            mode, query = "topic", ""
        elif options["search"] is not None:
            mode, query = "search", options["search"]
        elif options["geo"] is not None:
            mode, query = "geo", options["geo"]
        else:
            mode, query = "top", ""
        return add_google_news_source(
            name=options["name"],
            mode=mode,
            topic=options["topic"] or "",
            query=query,
            when=options["when"],
            hl=options["hl"],
            gl=options["gl"],
            ceid=options["ceid"],
        )
