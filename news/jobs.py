"""RQ jobs: run a queued fetch under its lock, start scheduled fetches, reap dead runs.

execute_run() is also what the foreground `fetch_news` command runs, so a run
behaves the same in a worker and in a terminal.
"""

import logging
import os
import threading

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.utils import timezone
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException

from news import locking
from news.fetching import run_fetch
from news.models import FetchRun
from news.triggers import AlreadyRunning, reap_abandoned_runs, start_fetch

logger = logging.getLogger(__name__)


class LockLost(Exception):
    """The run's lock expired or passed to another run while the run was fetching."""


class Heartbeat:
    """Background threads that keep a running run's lock and heartbeat_at fresh.

    The lock is extended on its own thread, so a database write stuck behind
    another writer (SQLite allows one at a time) cannot let the lock expire.
    Both threads beat every third of NEWS_LOCK_TTL, also while one source stalls.
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
        while not self._stopping.wait(self.interval):
            try:
                extended = locking.extend(self.run_id)
            except RedisError as exc:
                # The next beat retries, and the lock outlives two missed beats.
                logger.warning("run %s could not extend the fetch lock: %s", self.run_id, exc)
                continue
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
            "not started: its fetch lock expired while it was queued and another run holds it now",
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
            raise LockLost("lost the fetch lock while running; another run may have started")

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
    if isinstance(exc, JobTimeoutException):
        job = get_current_job()
        timeout = job.timeout if job is not None and job.timeout else settings.NEWS_JOB_TIMEOUT
        return f"timed out after {timeout} s"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, LockLost):
        return str(exc)
    return f"{exc.__class__.__name__}: {exc}"


def _end_run(run_id, status, error):
    """Set the final status of `run_id` unless the run already ended."""
    updated = FetchRun.objects.filter(pk=run_id, status__in=FetchRun.ACTIVE_STATUSES).update(
        status=status, error=error, finished_at=timezone.now()
    )
    if updated:
        logger.error("run %s ended %s: %s", run_id, status, error)
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
        status, error = FetchRun.Status.ABANDONED, "abandoned: RQ found its worker gone"
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
