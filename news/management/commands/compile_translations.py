from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from news.translations import catalog_paths, compile_catalog


class Command(BaseCommand):
    # Runs at setup, before the database or Redis may be up, as Django's own
    # compilemessages does.
    requires_system_checks = []
    help = _(
        "Compile the project's .po translation files into .mo files with polib, "
        "without GNU gettext. Files whose .mo is newer are skipped unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help=_("Compile every catalog, even when its .mo is newer.")
        )

    def handle(self, *args, force=False, **options):
        paths = catalog_paths()
        if not paths:
            raise CommandError(_("No .po files found under LOCALE_PATHS."))
        compiled = 0
        for po_path in paths:
            if force:
                po_path.with_suffix(".mo").unlink(missing_ok=True)
            if compile_catalog(po_path):
                compiled += 1
                if options["verbosity"] >= 2:
                    self.stdout.write(_("Compiled %(path)s") % {"path": po_path})
        values = {"compiled": compiled, "total": len(paths), "current": len(paths) - compiled}
        if compiled == 0:
            message = _("All %(total)d catalogs are up to date; none needed compiling.")
        else:
            message = _("%(compiled)d of %(total)d catalogs compiled; %(current)d were up to date.")
        self.stdout.write(message % values)
