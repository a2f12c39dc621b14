"""The fetch service: every entry point (command, job, admin, view) runs this.

A run fetches each of its sources, parses and stores what it gets, and
records one SourceResult per source. A failing source never stops the
others; its error becomes data on the run and on the source.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq.timeouts import JobTimeoutException

from news.download import FetchError, download
from news.models import ErrorCode, FetchRun, Source, SourceResult
from news.parsing import parse_feed
from news.storage import store_entries

logger = logging.getLogger(__name__)


@dataclass
class SourceOutcome:
    status: str
    entries_seen: int = 0
    created: int = 0
    updated: int = 0
    http_status: int | None = None
    error_code: str = ""
    error_message: str = ""
    warning: str = ""


def create_run(trigger, user=None, sources=None):
    """Create a queued FetchRun for `sources` (None means every enabled source)."""
    run = FetchRun.objects.create(
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    if sources:
        run.requested_sources.set(sources)
    return run


def sources_for(run):
    requested = list(run.requested_sources.all())
    if requested:
        return requested
    return list(Source.objects.filter(enabled=True).order_by("name"))


def run_fetch(run, *, worker_name="", on_source_done=None):
    """Fetch every source of `run`, record the results and return the run.

    `on_source_done(result)` is called after each source, for progress and
    heartbeats. The run ends succeeded, partially failed or failed.
    """
    sources = sources_for(run)
    now = timezone.now()
    FetchRun.objects.filter(pk=run.pk).update(
        status=FetchRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker_name=worker_name,
        sources_total=len(sources),
    )
    logger.info("run %s started: trigger=%s sources=%d", run.pk, run.trigger, len(sources))

    for source in sources:
        result = fetch_source(run, source)
        if on_source_done is not None:
            on_source_done(result)

    return finish_run(run)


def fetch_source(run, source):
    """Fetch, parse and store one source; return its SourceResult."""
    started = timezone.now()
    try:
        outcome = _fetch_and_store(run, source)
    except FetchError as exc:
        outcome = SourceOutcome(
            status=SourceResult.Status.FAILED,
            http_status=exc.http_status,
            error_code=exc.code,
            error_message=exc.message,
        )
    except JobTimeoutException:
        # The RQ job's time is up: that ends the whole run, not just this source.
        raise
    except Exception as exc:  # noqa: BLE001 - one source must not end the run
        logger.exception("run %s source %s: unexpected error", run.pk, source.pk)
        outcome = SourceOutcome(
            status=SourceResult.Status.FAILED,
            error_code=ErrorCode.INTERNAL_ERROR,
            error_message=f"unexpected error: {exc.__class__.__name__}: {exc}",
        )

    result = _record_outcome(run, source, outcome, started)
    _log_outcome(run, source, outcome)
    return result


def _fetch_and_store(run, source):
    fetched = download(source.url, etag=source.etag, last_modified=source.last_modified)
    if fetched.not_modified:
        return SourceOutcome(status=SourceResult.Status.UNCHANGED, http_status=304)

    feed = parse_feed(fetched.content, url=fetched.url, content_type=fetched.content_type)
    stored = store_entries(source, feed.entries, run)

    source.etag = fetched.etag[:500]
    source.last_modified = fetched.last_modified[:100]
    source.save(update_fields=["etag", "last_modified"])
    return SourceOutcome(
        status=SourceResult.Status.SUCCEEDED,
        entries_seen=len(feed.entries),
        created=stored.created,
        updated=stored.updated,
        http_status=fetched.status,
        warning=feed.warning,
    )


def _record_outcome(run, source, outcome, started):
    now = timezone.now()
    failed = outcome.status == SourceResult.Status.FAILED
    with transaction.atomic():
        result = SourceResult.objects.create(
            run=run,
            source=source,
            source_name=source.name,
            url=source.url,
            status=outcome.status,
            error_code=outcome.error_code,
            error_message=outcome.error_message,
            warning=outcome.warning,
            http_status=outcome.http_status,
            entries_seen=outcome.entries_seen,
            articles_created=outcome.created,
            articles_updated=outcome.updated,
            started_at=started,
            finished_at=now,
        )
        counters = {
            "entries_seen": F("entries_seen") + outcome.entries_seen,
            "articles_created": F("articles_created") + outcome.created,
            "articles_updated": F("articles_updated") + outcome.updated,
            "heartbeat_at": now,
        }
        if failed:
            counters["sources_failed"] = F("sources_failed") + 1
        elif outcome.status == SourceResult.Status.SKIPPED:
            counters["sources_skipped"] = F("sources_skipped") + 1
        else:
            counters["sources_succeeded"] = F("sources_succeeded") + 1
        FetchRun.objects.filter(pk=run.pk).update(**counters)

        if failed:
            Source.objects.filter(pk=source.pk).update(
                last_failure_at=now,
                consecutive_failures=F("consecutive_failures") + 1,
                last_error_code=outcome.error_code,
                last_error=outcome.error_message,
            )
        elif outcome.status != SourceResult.Status.SKIPPED:
            Source.objects.filter(pk=source.pk).update(
                last_success_at=now,
                consecutive_failures=0,
                last_error_code="",
                last_error="",
                next_fetch_after=None,
            )
    return result


def finish_run(run):
    """Set the final status and finish time from the recorded counts."""
    run.refresh_from_db()
    if run.sources_failed == 0:
        status = FetchRun.Status.SUCCEEDED
    elif run.sources_failed < run.sources_total:
        status = FetchRun.Status.PARTIALLY_FAILED
    else:
        status = FetchRun.Status.FAILED
    run.status = status
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    logger.info(
        "run %s finished: status=%s sources=%d succeeded=%d failed=%d skipped=%d "
        "entries=%d created=%d updated=%d",
        run.pk,
        run.status,
        run.sources_total,
        run.sources_succeeded,
        run.sources_failed,
        run.sources_skipped,
        run.entries_seen,
        run.articles_created,
        run.articles_updated,
    )
    return run


def _log_outcome(run, source, outcome):
    if outcome.status == SourceResult.Status.FAILED:
        logger.warning(
            "run %s source %s (%s) failed: %s: %s",
            run.pk,
            source.pk,
            source.url,
            outcome.error_code,
            outcome.error_message,
        )
        return
    if outcome.warning:
        logger.warning(
            "run %s source %s (%s) stored with a warning: %s",
            run.pk,
            source.pk,
            source.url,
            outcome.warning,
        )
    logger.info(
        "run %s source %s (%s): %s entries=%d created=%d updated=%d",
        run.pk,
        source.pk,
        source.url,
        outcome.status,
        outcome.entries_seen,
        outcome.created,
        outcome.updated,
    )
