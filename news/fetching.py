"""The fetch service: every entry point (command, job, admin, view) runs this.

A run fetches each of its sources, parses and stores what it gets, and
records one SourceResult per source. A failing source never stops the
others; its error becomes data on the run and on the source.

Sources on one host are fetched one after another, so a host that returns
429 gets one request per run. Different hosts are fetched in parallel by a
pool of NEWS_FETCH_CONCURRENCY threads.
"""

import datetime
import logging
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from rq.timeouts import JobTimeoutException

from news import hosts
from news.download import FetchError, download
from news.messages import Message, MessageList, english, render
from news.models import ErrorCode, FetchRun, Source, SourceResult
from news.parsing import parse_feed
from news.resolve import fill_original_urls
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
    # Messages (news.messages) or plain text, rendered when they are stored.
    error_message: object = ""
    warning: object = ""


def create_run(trigger, user=None, sources=None):
    """Create a queued FetchRun for `sources` (None means every enabled source)."""
    run = FetchRun.objects.create(
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
        all_sources=sources is None,
    )
    if sources:
        run.requested_sources.set(sources)
    return run


def sources_for(run):
    """Return the sources `run` fetches: those it names that still exist, or every enabled one."""
    if run.all_sources:
        return list(Source.objects.filter(enabled=True).order_by("name"))
    return list(run.requested_sources.order_by("name"))


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
    fetch_sources(run, sources, on_source_done=on_source_done)
    return finish_run(run)


def fetch_sources(run, sources, *, on_source_done=None):
    """Fetch `sources` for `run`, one host after another per thread, recording each result."""
    # Sources the run names are fetched even while they back off.
    forced = not run.all_sources
    groups = group_by_host(sources)
    callback = on_source_done or (lambda result: None)
    if settings.NEWS_FETCH_CONCURRENCY == 1 or len(groups) <= 1:
        for group in groups:
            for source in group:
                callback(fetch_source(run, source, forced=forced))
    else:
        _fetch_in_parallel(run, groups, forced, callback)


def group_by_host(sources):
    """Return lists of sources that share a host, in the order first seen."""
    groups = {}
    for source in sources:
        groups.setdefault(hosts.host_of(source.url), []).append(source)
    return list(groups.values())


def _fetch_in_parallel(run, groups, forced, callback):
    """Fetch host groups on a thread pool and call `callback` in this thread."""
    results = queue.Queue()
    group_done = object()
    language = translation.get_language()

    def fetch_group(group):
        try:
            with translation.override(language):
                for source in group:
                    results.put(fetch_source(run, source, forced=forced))
        finally:
            results.put(group_done)
            # Each pool thread opened its own database connection.
            connections.close_all()

    workers = min(settings.NEWS_FETCH_CONCURRENCY, len(groups))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="news-fetch") as pool:
        futures = [pool.submit(fetch_group, group) for group in groups]
        finished = 0
        while finished < len(groups):
            result = results.get()
            if result is group_done:
                finished += 1
            else:
                callback(result)
    for future in futures:
        future.result()


def fetch_source(run, source, *, forced=False):
    """Fetch, parse and store one source, and return its SourceResult.

    The source is skipped while its host asked to wait, and while it backs
    off after failures unless `forced`.
    """
    started = timezone.now()
    skip_reason = _skip_reason(source, forced)
    if skip_reason:
        outcome = SourceOutcome(status=SourceResult.Status.SKIPPED, warning=skip_reason)
        result = _record_outcome(run, source, outcome, started)
        logger.info(
            "run %s source %s (%s) skipped: %s",
            run.pk,
            source.pk,
            source.url,
            english(skip_reason),
        )
        return result
    try:
        outcome = _fetch_and_store(run, source)
    except FetchError as exc:
        outcome = _failure_outcome(exc)
    except JobTimeoutException:
        # The RQ job's time is up: that ends the whole run, not just this source.
        raise
    except Exception as exc:  # noqa: BLE001 - one source must not end the run
        logger.exception("run %s source %s: unexpected error", run.pk, source.pk)
        outcome = SourceOutcome(
            status=SourceResult.Status.FAILED,
            error_code=ErrorCode.INTERNAL_ERROR,
            error_message=Message(
                _("unexpected error: %(error)s"), {"error": f"{exc.__class__.__name__}: {exc}"}
            ),
        )

    result = _record_outcome(run, source, outcome, started)
    _log_outcome(run, source, outcome)
    return result


def _skip_reason(source, forced):
    until = hosts.wait_until(source.url)
    if until is not None:
        until_time = datetime.datetime.fromtimestamp(until, tz=datetime.timezone.utc)
        return Message(
            _("%(host)s asked to wait (HTTP 429 or 503 with Retry-After) until %(time)s"),
            {"host": hosts.host_of(source.url), "time": _format_time(until_time)},
        )
    if not forced and source.next_fetch_after and source.next_fetch_after > timezone.now():
        return Message(
            _("backing off after %(failures)d failures in a row until %(time)s"),
            {
                "failures": source.consecutive_failures,
                "time": _format_time(source.next_fetch_after),
            },
        )
    return ""


def _format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _failure_outcome(exc):
    """Return the failed outcome for `exc`, and record any host wait its status requests."""
    message = exc.message
    if exc.http_status is not None:
        seconds = hosts.record_wait(exc.url, exc.http_status, exc.retry_after)
        if seconds is not None:
            message = Message(
                _("%(error)s; no request to %(host)s for %(seconds)d s"),
                {"error": exc.message, "host": hosts.host_of(exc.url), "seconds": seconds},
            )
    return SourceOutcome(
        status=SourceResult.Status.FAILED,
        http_status=exc.http_status,
        error_code=exc.code,
        error_message=message,
    )


def _fetch_and_store(run, source):
    fetched = download(source.url, etag=source.etag, last_modified=source.last_modified)
    notes = MessageList()
    if fetched.moved_to:
        notes.append(_move_source(source, fetched.moved_to))
    if fetched.not_modified:
        return SourceOutcome(
            status=SourceResult.Status.UNCHANGED, http_status=304, warning=notes
        )

    feed = parse_feed(
        fetched.content,
        url=fetched.url,
        content_type=fetched.content_type,
        guid_scope=source.guid_scope,
    )
    fill_original_urls(feed.entries)
    stored = store_entries(source, feed.entries, run)

    source.etag = fetched.etag[:500]
    source.last_modified = fetched.last_modified[:100]
    source.save(update_fields=["etag", "last_modified"])
    if feed.warnings:
        notes.append(feed.warnings)
    return SourceOutcome(
        status=SourceResult.Status.SUCCEEDED,
        entries_seen=len(feed.entries),
        created=stored.created,
        updated=stored.updated,
        http_status=fetched.status,
        warning=notes,
    )


def _move_source(source, new_url):
    """Store the target of a permanent redirect as the source's URL.

    Returns a note for the run's warning that describes the change.
    """
    old_url = source.url
    values = {"old": old_url, "new": new_url}
    if source.kind == Source.Kind.GOOGLE_NEWS:
        # The URL of a Google News source is rebuilt from its query parts.
        return Message(
            _("%(old)s moved permanently to %(new)s; Google News URLs are kept"), values
        )
    if len(new_url) > Source._meta.get_field("url").max_length:
        return Message(
            _("%(old)s moved permanently to %(new)s, which is too long to store"), values
        )
    url_in_use = Message(
        _(
            "%(old)s moved permanently to %(new)s, which another source already uses; "
            "the URL was kept"
        ),
        values,
    )
    if Source.objects.filter(url=new_url).exclude(pk=source.pk).exists():
        return url_in_use
    try:
        with transaction.atomic():
            Source.objects.filter(pk=source.pk).update(url=new_url)
    except IntegrityError:
        # Another source took the URL between the check and the update.
        return url_in_use
    source.url = new_url
    logger.info("source %s moved permanently from %s to %s", source.pk, old_url, new_url)
    return Message(_("%(old)s moved permanently to %(new)s; the source URL was updated"), values)


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
            error_message=render(outcome.error_message),
            warning=render(outcome.warning),
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
                last_error=render(outcome.error_message),
            )
            failures = Source.objects.values_list("consecutive_failures", flat=True).get(
                pk=source.pk
            )
            Source.objects.filter(pk=source.pk).update(
                next_fetch_after=now + datetime.timedelta(seconds=backoff_seconds(failures))
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


def record_unfetched(run, source, message):
    """Record a failed SourceResult for a source that `run` could not fetch at all.

    Used when the job that held the source ended without fetching it (its
    worker was killed, it timed out or it was stopped). The source itself is
    not to blame, so its failure count and back-off stay as they are.
    """
    now = timezone.now()
    with transaction.atomic():
        result = SourceResult.objects.create(
            run=run,
            source=source,
            source_name=source.name,
            url=source.url,
            status=SourceResult.Status.FAILED,
            error_code=ErrorCode.INTERNAL_ERROR,
            error_message=render(message),
            started_at=now,
            finished_at=now,
        )
        FetchRun.objects.filter(pk=run.pk).update(sources_failed=F("sources_failed") + 1)
    logger.warning(
        "run %s source %s (%s) not fetched: %s", run.pk, source.pk, source.url, english(message)
    )
    return result


def backoff_seconds(failures):
    """Return how long a source waits after `failures` consecutive failures.

    The wait doubles from NEWS_SOURCE_BACKOFF with each failure, up to
    NEWS_SOURCE_MAX_BACKOFF.
    """
    exponent = min(max(failures - 1, 0), 32)
    return min(settings.NEWS_SOURCE_BACKOFF * 2**exponent, settings.NEWS_SOURCE_MAX_BACKOFF)


def finish_run(run):
    """Set the final status and finish time from the recorded counts."""
    run.refresh_from_db()
    run.status = final_status(run)
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    log_finished(run)
    return run


def final_status(run):
    """Return the status that `run`'s recorded counts call for."""
    if run.sources_failed == 0:
        return FetchRun.Status.SUCCEEDED
    if run.sources_failed < run.sources_total:
        return FetchRun.Status.PARTIALLY_FAILED
    return FetchRun.Status.FAILED


def log_finished(run):
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


def _log_outcome(run, source, outcome):
    if outcome.status == SourceResult.Status.FAILED:
        logger.warning(
            "run %s source %s (%s) failed: %s: %s",
            run.pk,
            source.pk,
            source.url,
            outcome.error_code,
            english(outcome.error_message),
        )
        return
    if outcome.warning:
        logger.warning(
            "run %s source %s (%s) stored with a warning: %s",
            run.pk,
            source.pk,
            source.url,
            english(outcome.warning),
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
