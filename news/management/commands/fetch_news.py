import os

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from news.embedded_redis import running_if_embedded
from news.sources import NO_ENABLED_SOURCES_MESSAGE
from news.jobs import LockLost, execute_run
from news.models import FetchRun, Source, SourceResult
from news.triggers import AlreadyRunning, QueueUnavailable, create_locked_run, start_fetch

# Exit status when another fetch run holds the fetch lock.
ALREADY_RUNNING_STATUS = 3


class Command(BaseCommand):
    help = _(
        "Fetch every enabled source (or the named ones) in the foreground and "
        "store their articles. Exits 0 when every source succeeded, 1 when any failed, "
        "3 when another fetch run is active."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--source",
            action="append",
            dest="sources",
            metavar="NAME",
            help=_("Fetch only the source with this name. Repeat for several sources."),
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help=_("Queue the run for an RQ worker instead of fetching here, and print its id."),
        )

    def handle(self, *args, sources=None, enqueue=False, **options):
        selected = self._select_sources(sources)
        if enqueue:
            self._fetch(selected, enqueue=True)
            return
        # In the foreground the lock needs Redis but no worker, so without
        # REDIS_URL the embedded server is started for this run if it is down.
        with running_if_embedded():
            self._fetch(selected, enqueue=False)

    def _fetch(self, selected, enqueue):
        try:
            if enqueue:
                run = start_fetch(FetchRun.Trigger.COMMAND, sources=selected)
            else:
                run = create_locked_run(FetchRun.Trigger.COMMAND, sources=selected)
        except AlreadyRunning as exc:
            raise CommandError(
                _("Fetch run #%(id)s is already %(status)s; try again when it has finished.")
                % {"id": exc.run.pk, "status": exc.run.get_status_display()},
                returncode=ALREADY_RUNNING_STATUS,
            ) from None
        except QueueUnavailable as exc:
            raise CommandError(str(exc)) from None

        if enqueue:
            self.stdout.write(_("Queued fetch run #%(id)s as job %(job)s.") % {"id": run.pk, "job": run.job_id})
            return

        try:
            run = execute_run(run.pk, worker_name=f"fetch_news pid {os.getpid()}", on_source_done=self._print_result)
        except LockLost as exc:
            raise CommandError(_("Fetch run stopped: %(error)s") % {"error": exc}) from None
        if run is None:
            raise CommandError(_("The fetch run could not start: its lock passed to another run."))

        self.stdout.write(
            _(
                "Run #%(id)s %(status)s: %(succeeded)d of %(total)d sources succeeded, "
                "%(entries)d entries seen, %(created)d articles created, "
                "%(updated)d updated."
            )
            % {
                "id": run.pk,
                "status": run.get_status_display(),
                "succeeded": run.sources_succeeded,
                "total": run.sources_total,
                "entries": run.entries_seen,
                "created": run.articles_created,
                "updated": run.articles_updated,
            }
        )
        if run.sources_total == 0:
            self.stdout.write(self.style.WARNING(NO_ENABLED_SOURCES_MESSAGE))
        if run.sources_failed:
            raise CommandError(
                _("%(failed)d of %(total)d sources failed; see the lines above.")
                % {"failed": run.sources_failed, "total": run.sources_total}
            )

    def _select_sources(self, names):
        if not names:
            return None
        found = {source.name: source for source in Source.objects.filter(name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise CommandError(
                _("No source named %(names)s. List them with the admin or add one with add_source.")
                % {"names": ", ".join(repr(name) for name in missing)},
                returncode=2,
            )
        return list(found.values())

    def _print_result(self, result):
        if result.status == SourceResult.Status.FAILED:
            line = _("FAILED %(name)s: %(error)s") % {
                "name": result.source_name,
                "error": result.error_message,
            }
            self.stdout.write(self.style.ERROR(line))
            return
        line = _("%(status)s %(name)s: %(entries)d entries, %(created)d new, %(updated)d updated") % {
            "status": result.get_status_display(),
            "name": result.source_name,
            "entries": result.entries_seen,
            "created": result.articles_created,
            "updated": result.articles_updated,
        }
        self.stdout.write(self.style.SUCCESS(line))
        if result.warning:
            self.stdout.write(self.style.WARNING(_("  warning: %(warning)s") % {"warning": result.warning}))
