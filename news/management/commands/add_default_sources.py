from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from news.sources import add_default_sources


class Command(BaseCommand):
    help = _("Add the default Google News Taiwan sources that are not there yet.")

    def handle(self, *args, **options):
        added = add_default_sources()
        for source in added:
            self.stdout.write(_("Added source %(name)s: %(url)s") % {"name": source.name, "url": source.url})
        self.stdout.write(_("%(count)d default sources added.") % {"count": len(added)})
