"""RQ jobs: run a queued fetch under its lock, start scheduled fetches, reap dead runs.

execute_run() is also what the foreground `fetch_news` command runs, so a run
behaves the same in a worker and in a terminal. A run with more sources than
NEWS_FANOUT_THRESHOLD is split into part jobs instead (news.fanout), and the
part jobs, their callbacks and the closing job are here too.
"""

import logging
import os
import threading
import time

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException

from news import fanout, locking
from news.fetching import fetch_sources, run_fetch, sources_for
from news.messages import Message, english, render
from news.models import FetchRun
from news.triggers import QUEUE_NAME, AlreadyRunning, reap_abandoned_runs, start_fetch

logger = logging.getLogger(__name__)


class LockLost(Exception):
    """The run's lock expired, passed to another run, or could not be extended in time.

    The argument is a news.messages.Message, so str() is in the active language.
    """


def lock_lost():
    """Return the LockLost that a run or part raises after its heartbeat lost the lock."""
    return LockLost(
        Message(
            _(
                "lost the fetch lock while running; another run may have started, "
                "or Redis could not be reached for NEWS_LOCK_TTL seconds"
            )
        )
    )


class Heartbeat:
    """Background threads that keep a running run's lock and heartbeat_at fresh.

    The lock is extended on its own thread, so a database write stuck behind
    another writer (SQLite allows one at a time) cannot let the lock expire.
    Both threads beat every third of NEWS_LOCK_TTL, also while one source stalls.
    When Redis fails every extension for NEWS_LOCK_TTL seconds, the lock has
    expired or is about to, so `lost` is set as if another run had taken it.
    For a part of a fanned-out run (`part_id`), the lock thread also renews
    the part's liveness key on `redis`.
    """

    def __init__(self, run_id, interval=None, *, part_id=None, redis=None):
        self.run_id = run_id
        self.part_id = part_id
        self.redis = redis
        self.interval = interval or max(settings.NEWS_LOCK_TTL / 3, 0.5)
        self.lost = threading.Event()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._extend_lock, name=f"run-{run_id}-lock", daemon=True),
            threading.Thread(target=self._stamp_run, name=f"run-{run_id}-stamp", daemon=True),
        ]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=self.interval + 5)

    def _extend_lock(self):
        last_extended = time.monotonic()
        while not self._stopping.wait(self.interval):
            try:
                extended = locking.extend(self.run_id)
            except RedisError as exc:
                failing_for = time.monotonic() - last_extended
                if failing_for >= settings.NEWS_LOCK_TTL:
                    logger.error(
                        "run %s could not extend the fetch lock for %.0f s and stops after "
                        "the current source: %s",
                        self.run_id,
                        failing_for,
                        exc,
                    )
                    self.lost.set()
                    return
                # The next beat retries, and the lock outlives two missed beats.
                logger.warning("run %s could not extend the fetch lock: %s", self.run_id, exc)
                continue
            last_extended = time.monotonic()
            if not extended:
                logger.error("run %s lost the fetch lock and stops after the current source", self.run_id)
                self.lost.set()
                return
            if self.part_id is not None:
                try:
                    fanout.stamp_part(self.redis, self.part_id)
                except RedisError as exc:
                    logger.warning("run %s part %s could not stamp its liveness key: %s", self.run_id, self.part_id, exc)

    def _stamp_run(self):
        try:
            while not self._stopping.wait(self.interval):
                try:
                    FetchRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
                except DatabaseError as exc:
                    logger.warning("run %s could not store its heartbeat: %s", self.run_id, exc)
        finally:
            # Django opens one connection per thread, so this thread closes its own.
            connections.close_all()


def execute_run(run_id, *, worker_name="", on_source_done=None):
    """Fetch queued run `run_id` while holding its lock, and release the lock at the end.

    Returns the finished run, or None when the run was not started because it
    is no longer queued or its lock belongs to another run. An exception in
    the fetch (a job timeout included) marks the run failed and is raised again.
    """
    if not _mark_running(run_id, worker_name):
        return None

    heartbeat = Heartbeat(run_id).start()

    def source_done(result):
        if on_source_done is not None:
            on_source_done(result)
        if heartbeat.lost.is_set():
            raise lock_lost()

    try:
        run = FetchRun.objects.get(pk=run_id)
        return run_fetch(run, worker_name=worker_name, on_source_done=source_done)
    except BaseException as exc:
        if not connection.in_atomic_block:
            # A timeout can interrupt a query half-way, so the next query needs a fresh connection.
            connection.close()
        _end_run(run_id, FetchRun.Status.FAILED, describe_failure(exc))
        raise
    finally:
        heartbeat.stop()
        try:
            locking.release(run_id)
        except RedisError as exc:
            logger.warning("run %s could not release the fetch lock, which expires by itself: %s", run_id, exc)


def _mark_running(run_id, worker_name):
    """Take or keep the lock of queued run `run_id` and mark it running; return True if started."""
    if not (locking.extend(run_id) or locking.acquire(run_id)):
        _end_run(
            run_id,
            FetchRun.Status.ABANDONED,
            Message(
                _(
                    "not started: its fetch lock expired while it was queued "
                    "and another run holds it now"
                )
            ),
        )
        return False

    now = timezone.now()
    started = FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.QUEUED).update(
        status=FetchRun.Status.RUNNING, started_at=now, heartbeat_at=now, worker_name=worker_name
    )
    if not started:
        locking.release(run_id)
        logger.warning("run %s not started: it is no longer queued", run_id)
        return False
    return True


def start_fanned_out_run(run_id, sources, *, queue, worker_name=""):
    """Mark run `run_id` running and enqueue its part jobs; return the run, or None if not started.

    The lock stays with the run after this returns: its parts extend it while
    they work, and the part or job that ends the run releases it.
    """
    if not _mark_running(run_id, worker_name):
        return None
    FetchRun.objects.filter(pk=run_id).update(sources_total=len(sources))
    run = FetchRun.objects.get(pk=run_id)
    try:
        parts = fanout.enqueue_parts(queue, run, sources)
    except BaseException as exc:
        _end_run(
            run_id,
            FetchRun.Status.FAILED,
            Message(_("could not enqueue its parts: %(error)s"), {"error": describe_failure(exc)}),
        )
        locking.release(run_id)
        raise
    logger.info(
        "run %s started: trigger=%s sources=%d parts=%d", run_id, run.trigger, len(sources), len(parts)
    )
    return run


def execute_part(run_id, source_ids, *, part_id, redis, worker_name=""):
    """Fetch the sources of one part of fanned-out run `run_id`; return how many were fetched.

    Sources that already have a result in the run (from an earlier attempt of
    this part) are skipped. Returns None without fetching when the run has
    ended or another run holds the lock. A part that raises is handled by
    fetch_part_failed(), and the run goes on with its other parts.
    """
    run = FetchRun.objects.filter(pk=run_id).first()
    if run is None or run.status != FetchRun.Status.RUNNING:
        logger.warning("run %s part %s not started: the run is %s", run_id, part_id, run.status if run else "missing")
        return None
    if not (locking.extend(run_id) or locking.acquire(run_id)):
        logger.error("run %s part %s not started: another run holds the fetch lock", run_id, part_id)
        return None
    if fanout.release_lock_if_ended(run_id):
        # The run's last part ended it between the status check and the lock.
        logger.info("run %s part %s not started: the run has ended", run_id, part_id)
        return None

    fanout.stamp_part(redis, part_id)
    sources = fanout.sources_to_fetch(run, source_ids)
    logger.info(
        "run %s part %s started on %s: %d of %d sources to fetch",
        run_id, part_id, worker_name, len(sources), len(source_ids),
    )
    heartbeat = Heartbeat(run_id, part_id=part_id, redis=redis).start()

    def source_done(result):
        if heartbeat.lost.is_set():
            raise lock_lost()

    try:
        fetch_sources(run, sources, on_source_done=source_done)
    except BaseException:
        if not connection.in_atomic_block:
            # A timeout can interrupt a query half-way, so the next query needs a fresh connection.
            connection.close()
        raise
    finally:
        heartbeat.stop()
        try:
            fanout.forget_part(redis, part_id)
        except RedisError as exc:
            logger.warning("run %s part %s could not delete its liveness key: %s", run_id, part_id, exc)
    if not fanout.end_run_if_complete(run_id):
        fanout.release_lock_if_ended(run_id)
    return len(sources)


def describe_failure(exc):
    """Return a Message (news.messages) that describes why a run ended with `exc`."""
    if isinstance(exc, JobTimeoutException):
        job = get_current_job()
        timeout = job.timeout if job is not None and job.timeout else settings.NEWS_JOB_TIMEOUT
        return Message(_("timed out after %(seconds)s s"), {"seconds": timeout})
    if isinstance(exc, KeyboardInterrupt):
        return Message(_("interrupted"))
    if isinstance(exc, LockLost) and exc.args and isinstance(exc.args[0], Message):
        return exc.args[0]
    return Message(
        _("unexpected error: %(error)s"), {"error": f"{exc.__class__.__name__}: {exc}"}
    )


def _end_run(run_id, status, error):
    """Set the final status of `run_id` unless the run already ended.

    `error` is stored in the active language and logged in English.
    """
    updated = FetchRun.objects.filter(pk=run_id, status__in=FetchRun.ACTIVE_STATUSES).update(
        status=status, error=render(error), finished_at=timezone.now()
    )
    if updated:
        logger.error("run %s ended %s: %s", run_id, status, english(error))
    return bool(updated)


def fetch_job(run_id):
    """Run the fetch of `run_id` in an RQ worker, or split it into parts; return its status."""
    job = get_current_job()
    worker_name = _worker_name(job)
    run = FetchRun.objects.filter(pk=run_id).first()
    sources = sources_for(run) if run is not None else []
    if fanout.should_fan_out(len(sources)):
        queue = django_rq.get_queue(job.origin if job is not None else QUEUE_NAME)
        run = start_fanned_out_run(run_id, sources, queue=queue, worker_name=worker_name)
    else:
        run = execute_run(run_id, worker_name=worker_name)
    return run.status if run is not None else None


def _worker_name(job):
    worker = getattr(job, "worker_name", "") or "rq"
    return f"{worker} pid {os.getpid()}"


def fetch_part_job(run_id, source_ids):
    """Fetch one part of a fanned-out run; return the worker's name and the sources fetched."""
    job = get_current_job()
    worker_name = _worker_name(job)
    fetched = execute_part(
        run_id, source_ids, part_id=job.id, redis=job.connection, worker_name=worker_name
    )
    return {"worker": worker_name, "fetched": fetched}


def fetch_part_failed(job, connection, exc_type, exc_value, traceback):
    """Record the unfetched sources of a part that failed for the last time.

    RQ calls this when the part raised (a job timeout included) and from its
    registry cleanup when the part's worker is gone (AbandonedJobError),
    before it decides on a retry. A part with a retry left is left to it.
    """
    run_id, source_ids = job.args
    if exc_type is AbandonedJobError:
        message = fanout.worker_lost_message()
    else:
        message = fanout.part_failed_message(describe_failure(exc_value))
    if job.retries_left:
        logger.warning("run %s part %s failed; RQ retries it: %s", run_id, job.id, english(message))
        return
    recorded = fanout.record_unfetched_sources(run_id, source_ids, message)
    logger.error(
        "run %s part %s failed with no retry left; %d sources recorded as failed: %s",
        run_id, job.id, recorded, english(message),
    )
    fanout.end_run_if_complete(run_id)


def fetch_part_stopped(job, connection):
    """Record the unfetched sources of a part stopped on request, and end the run if that was the last."""
    run_id, source_ids = job.args
    recorded = fanout.record_unfetched_sources(run_id, source_ids, fanout.part_stopped_message())
    logger.warning("run %s part %s stopped; %d sources recorded as failed", run_id, job.id, recorded)
    # RQ never queues a job that depends on a stopped one, so the run ends here or with its last part.
    fanout.cancel_closing_job(connection, run_id)
    fanout.end_run_if_complete(run_id)


def close_fanned_out_run_job(run_id, source_ids):
    """End a fanned-out run after its last part finished or failed; return its status.

    RQ queues this job when every part has ended. Any source still without a
    result is recorded as failed first, so the counts add up to the run's sources.
    """
    recorded = fanout.record_unfetched_sources(run_id, source_ids, fanout.part_ended_message())
    if recorded:
        logger.error("run %s: %d sources had no result when its last part ended", run_id, recorded)
    fanout.end_run(run_id)
    return FetchRun.objects.values_list("status", flat=True).filter(pk=run_id).first()


def fetch_job_failed(job, connection, exc_type, exc_value, traceback):
    """End the run of a failed fetch job that the job itself could not end.

    RQ calls this after the job raised, and from its registry cleanup when it
    finds the job's worker gone (AbandonedJobError).
    """
    run_id = job.args[0]
    if exc_type is AbandonedJobError:
        status = FetchRun.Status.ABANDONED
        error = Message(_("abandoned: RQ found its worker gone"))
    else:
        status, error = FetchRun.Status.FAILED, describe_failure(exc_value)
    _end_run(run_id, status, error)
    try:
        locking.release(run_id)
    except RedisError as exc:
        logger.warning("run %s could not release the fetch lock: %s", run_id, exc)


def scheduled_fetch():
    """Start a fetch for the schedule; a run already active is a logged skip."""
    try:
        run = start_fetch(FetchRun.Trigger.SCHEDULE)
    except AlreadyRunning as exc:
        logger.info("scheduled fetch skipped: run %s is %s", exc.run.pk, exc.run.status)
        return None
    return run.pk


def reap_job():
    """Mark runs whose worker died as abandoned; return their ids."""
    return [run.pk for run in reap_abandoned_runs()]
