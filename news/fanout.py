"""Fan-out: split a large fetch run into RQ jobs that any worker may take.

A run with more sources than NEWS_FANOUT_THRESHOLD is split by its first job
(news.jobs.fetch_job) into parts of NEWS_FANOUT_BATCH_SIZE sources. The parts
are enqueued as one RQ group named after the run, each with Retry(max=1) and
failure and stopped callbacks. A closing job depends on every part with
`allow_failure=True`, so RQ queues it once the last part has finished or
failed, in whatever order they end.

Each source result adds to the run's counters with F() expressions, so the
run's counts are the sum of its parts. The run ends when every source has a
result (each part checks as it ends) or when the closing job runs, whichever
comes first. Both end it with one conditional UPDATE, so only one of them
ends it, and that one releases the lock, which only the owner run can do.

A part whose worker was killed stays "started" in RQ until RQ's own cleanup
finds it: at least 60 s after the worker's last heartbeat, and only on a
maintenance pass (every 10 minutes by default in RQ 3.0.0). So each running
part keeps a liveness key that expires after NEWS_LOCK_TTL, and
recover_dead_parts(), which the reaper runs, hands a started part without
one to RQ's abandoned-job handling at once.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rq import Callback, Queue, Retry
from rq.group import Group
from rq.job import Dependency, Job, JobStatus

from news import locking
from news.fetching import final_status, log_finished, record_unfetched
from news.messages import Message
from news.models import FetchRun, Source, SourceResult

logger = logging.getLogger(__name__)

PART_FUNCTION = "news.jobs.fetch_part_job"
PART_FAILURE_CALLBACK = "news.jobs.fetch_part_failed"
PART_STOPPED_CALLBACK = "news.jobs.fetch_part_stopped"
CLOSING_FUNCTION = "news.jobs.close_fanned_out_run_job"
# A part whose worker was killed runs once more on another worker, then fails.
PART_RETRIES = 1
PENDING_STATUSES = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.STARTED)


def should_fan_out(source_count):
    return source_count > settings.NEWS_FANOUT_THRESHOLD


def group_name(run_id):
    return f"fetch-run-{run_id}"


def part_job_id(run_id, index):
    return f"fetch-run-{run_id}-part-{index}"


def closing_job_id(run_id):
    return f"fetch-run-{run_id}-close"


def split_into_batches(sources):
    """Return the ids of `sources` in lists of NEWS_FANOUT_BATCH_SIZE, in order."""
    size = settings.NEWS_FANOUT_BATCH_SIZE
    ids = [source.pk for source in sources]
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def enqueue_parts(queue, run, sources):
    """Enqueue the part jobs of `run` and the closing job that waits for them; return the parts."""
    batches = split_into_batches(sources)
    job_datas = [
        Queue.prepare_data(
            PART_FUNCTION,
            args=(run.pk, batch),
            job_id=part_job_id(run.pk, index),
            timeout=settings.NEWS_JOB_TIMEOUT,
            retry=Retry(max=PART_RETRIES),
            on_failure=Callback(PART_FAILURE_CALLBACK),
            on_stopped=Callback(PART_STOPPED_CALLBACK),
        )
        for index, batch in enumerate(batches)
    ]
    parts = Group.create(queue.connection, name=group_name(run.pk)).enqueue_many(queue, job_datas)
    queue.enqueue(
        CLOSING_FUNCTION,
        run.pk,
        [source_id for batch in batches for source_id in batch],
        job_id=closing_job_id(run.pk),
        job_timeout=settings.NEWS_JOB_TIMEOUT,
        depends_on=Dependency(jobs=parts, allow_failure=True),
    )
    logger.info("run %s split into %d parts of up to %d sources", run.pk, len(parts), settings.NEWS_FANOUT_BATCH_SIZE)
    return parts


def part_jobs(connection, run_id):
    """Return the part jobs of `run_id` that RQ still stores (none for a run that did not fan out)."""
    if not connection.exists(Group.get_key(group_name(run_id))):
        return []
    return Group(connection, name=group_name(run_id)).get_jobs()


def has_pending_jobs(connection, run_id):
    """Return True while a part or the closing job of `run_id` waits in RQ or runs."""
    jobs = part_jobs(connection, run_id)
    closing = Job.fetch_many([closing_job_id(run_id)], connection)[0]
    if closing is not None:
        jobs.append(closing)
    return any(job.get_status(refresh=False) in PENDING_STATUSES for job in jobs)


def liveness_key(part_id):
    return f"{settings.NEWS_LOCK_PREFIX}:fetch-part:{part_id}"


def stamp_part(connection, part_id):
    """Mark part `part_id` alive for NEWS_LOCK_TTL seconds."""
    connection.set(liveness_key(part_id), "1", px=int(settings.NEWS_LOCK_TTL * 1000))


def forget_part(connection, part_id):
    connection.delete(liveness_key(part_id))


def recover_dead_parts(queue):
    """Hand started parts whose worker stopped sending heartbeats to RQ; return their job ids.

    RQ's StartedJobRegistry.cleanup() is what RQ itself runs for a job whose
    worker vanished: it calls the failure callback with AbandonedJobError,
    then retries the job if it has retries left, or moves it to the failed
    registry and enqueues its dependents. Only the execution's expiry time in
    the registry is moved to the past here, so that cleanup takes the part now.

    NOTE: a part whose heartbeat threads stall for NEWS_LOCK_TTL while it
    still fetches is retried beside itself. A source that both attempts
    fetch then fails the unique (run, source) constraint in the later one,
    which rolls back that result and its counts, and that attempt ends failed.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.NEWS_LOCK_TTL)
    registry = queue.started_job_registry
    dead = []
    for run_id in FetchRun.objects.filter(status=FetchRun.Status.RUNNING).values_list("pk", flat=True):
        for job in part_jobs(queue.connection, run_id):
            if job.get_status(refresh=False) != JobStatus.STARTED:
                continue
            if queue.connection.exists(liveness_key(job.id)):
                continue
            if job.started_at is None or job.started_at >= cutoff:
                # Its worker may not have stamped the liveness key yet.
                continue
            executions = {execution.composite_key: 0 for execution in job.get_executions()}
            if executions:
                queue.connection.zadd(registry.key, executions, xx=True)
            dead.append(job.id)
            logger.warning(
                "run %s part %s: worker %s stopped sending heartbeats; handing the part to RQ",
                run_id,
                job.id,
                job.worker_name or "(unknown)",
            )
    if dead:
        registry.cleanup()
    return dead


def worker_lost_message():
    return Message(
        _("not fetched: the worker running its part stopped (killed or lost), and the part has no retry left")
    )


def part_failed_message(error):
    return Message(_("not fetched: its part failed (%(error)s) and has no retry left"), {"error": error})


def part_stopped_message():
    return Message(_("not fetched: its part was stopped on request"))


def part_ended_message():
    return Message(_("not fetched: its part ended without a result for it"))


def sources_to_fetch(run, source_ids):
    """Return the sources of `source_ids` that have no result in `run` yet, by name.

    A retried part skips the sources that its first attempt already recorded.
    """
    done = SourceResult.objects.filter(run=run, source_id__in=source_ids).values_list("source_id", flat=True)
    return list(Source.objects.filter(pk__in=source_ids).exclude(pk__in=done).order_by("name"))


def record_unfetched_sources(run_id, source_ids, message):
    """Record a failed result with `message` (a Message) for each source of `source_ids` without one.

    Does nothing once the run has ended, so a late callback cannot change the
    counts of a finished or abandoned run. Returns the number recorded.
    """
    run = FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.RUNNING).first()
    if run is None:
        return 0
    recorded = 0
    for source in sources_to_fetch(run, source_ids):
        try:
            record_unfetched(run, source, message)
        except IntegrityError:
            # A retried attempt recorded this source in the meantime.
            continue
        recorded += 1
    return recorded


def end_run_if_complete(run_id):
    """End `run_id` once every one of its sources has a result; return True if this call ended it."""
    run = FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.RUNNING).first()
    if run is None or run.sources_done < run.sources_total:
        return False
    return end_run(run_id)


def end_run(run_id):
    """Set the final status of running run `run_id` from its counts and release its lock.

    Returns True if this call ended the run, False when it had already ended.
    """
    run = FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.RUNNING).first()
    if run is None:
        return False
    updated = FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.RUNNING).update(
        status=final_status(run), finished_at=timezone.now()
    )
    if not updated:
        return False
    run.refresh_from_db()
    log_finished(run)
    locking.release(run_id)
    return True


def release_lock_if_ended(run_id):
    """Release the lock of `run_id` if the run has ended; return True if it has ended.

    A part that took the lock just as another part ended the run would
    otherwise hold it until it expires.
    """
    if FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.RUNNING).exists():
        return False
    locking.release(run_id)
    return True


def cancel_closing_job(connection, run_id):
    """Cancel the closing job of `run_id`, which RQ never queues after a part was stopped."""
    closing = Job.fetch_many([closing_job_id(run_id)], connection)[0]
    if closing is not None and closing.get_status(refresh=False) == JobStatus.DEFERRED:
        closing.cancel()
        logger.info("run %s: cancelled closing job %s after a part was stopped", run_id, closing.id)
