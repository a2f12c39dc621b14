"""RQ jobs: run a queued fetch under its lock, start scheduled fetches, reap dead runs.

execute_run() is also what the foreground `fetch_news` command runs, so a run
behaves the same in a worker and in a terminal.
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException

from news import locking
from news.fetching import run_fetch
from news.messages import Message, english, render
from news.models import FetchRun
from news.triggers import AlreadyRunning, reap_abandoned_runs, start_fetch

logger = logging.getLogger(__name__)


class LockLost(Exception):
    """The run's lock expired, passed to another run, or could not be extended in time.

    The argument is a news.messages.Message, so str() is in the active language.
    """


class Heartbeat:
    """Background threads that keep a running run's lock and heartbeat_at fresh.

    The lock is extended on its own thread, so a database write stuck behind
    another writer (SQLite allows one at a time) cannot let the lock expire.
    Both threads beat every third of NEWS_LOCK_TTL, also while one source stalls.
    When Redis fails every extension for NEWS_LOCK_TTL seconds, the lock has
    expired or is about to, so `lost` is set as if another run had taken it.
    """

    def __init__(self, run_id, interval=None):
        self.run_id = run_id
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
        return None

    now = timezone.now()
    started = FetchRun.objects.filter(pk=run_id, status=FetchRun.Status.QUEUED).update(
        status=FetchRun.Status.RUNNING, started_at=now, heartbeat_at=now, worker_name=worker_name
    )
    if not started:
        locking.release(run_id)
        logger.warning("run %s not started: it is no longer queued", run_id)
        return None

    heartbeat = Heartbeat(run_id).start()

    def source_done(result):
        if on_source_done is not None:
            on_source_done(result)
        if heartbeat.lost.is_set():
            raise LockLost(
                Message(
                    _(
                        "lost the fetch lock while running; another run may have started, "
                        "or Redis could not be reached for NEWS_LOCK_TTL seconds"
                    )
                )
            )

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
    """Run the fetch of `run_id` in an RQ worker; return the final status."""
    job = get_current_job()
    worker = getattr(job, "worker_name", "") or "rq"
    run = execute_run(run_id, worker_name=f"{worker} pid {os.getpid()}")
    return run.status if run is not None else None


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
