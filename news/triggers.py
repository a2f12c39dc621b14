"""Start a fetch from any entry point: one lock, one queue, one code path.

The HTTP view, the admin, the `fetch_news --enqueue` command and the schedule
all call start_fetch(). It takes the fetch lock for a new FetchRun and queues
an RQ job that runs the fetch service (news.jobs.fetch_job). The job keeps
the lock alive with a heartbeat and releases it when the run ends. A run
whose worker died stops extending the lock, so the lock expires and the run
is marked abandoned by the next trigger or by the scheduled reaper.
"""

import contextlib
import logging
import time
from datetime import timedelta

import django_rq
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from redis.exceptions import RedisError
from rq import Callback

from news import fanout, locking
from news.fetching import create_run
from news.messages import Message, english, render
from news.models import FetchRun

logger = logging.getLogger(__name__)

QUEUE_NAME = "default"
JOB_FUNCTION = "news.jobs.fetch_job"
JOB_FAILURE_CALLBACK = "news.jobs.fetch_job_failed"
# Seconds a trigger that lost the race for the lock waits for the winner's
# run to be committed before it treats the lock as stale.
HOLDER_COMMIT_WAIT = 5.0
LOCK_ATTEMPTS = 3


class AlreadyRunning(Exception):
    """A fetch run is active; `run` is that FetchRun."""

    def __init__(self, run):
        super().__init__(f"fetch run #{run.pk} is already {run.status}")
        self.run = run


class QueueUnavailable(Exception):
    """Redis could not be reached; the run was marked failed with the reason."""

    def __init__(self, message, run=None):
        super().__init__(message)
        self.run = run


class _LockTaken(Exception):
    """Another trigger took the lock first, so the run just created is rolled back."""


def job_id_for(run_id):
    return f"fetch-run-{run_id}"


def start_fetch(trigger, user=None, sources=None):
    """Take the lock, create a queued FetchRun, enqueue its job, return the run.

    Raises AlreadyRunning when another run holds the lock. Raises
    QueueUnavailable when Redis cannot be reached. In that case the run that
    could not start is stored as failed with the reason, and the lock is free.

    Call it outside a transaction. Inside one, django-rq defers the enqueue
    until the commit and returns no job, so a Redis failure at that point
    surfaces at the commit instead of here.
    """
    run = create_locked_run(trigger, user=user, sources=sources)
    try:
        reap_abandoned_runs(lock_owner=run.pk)
        _enqueue(run)
    except RedisError as exc:
        with contextlib.suppress(RedisError):
            locking.release(run.pk)
        raise _queue_unavailable(run, exc) from exc

    logger.info("run %s queued as job %s: trigger=%s", run.pk, run.job_id, trigger)
    return run


def create_locked_run(trigger, user=None, sources=None):
    """Create a queued FetchRun that holds the fetch lock, without queueing a job.

    The foreground `fetch_news` command runs the returned run itself. Raises
    AlreadyRunning and QueueUnavailable like start_fetch().
    """
    try:
        return _create_run_holding_lock(trigger, user, sources)
    except RedisError as exc:
        run = create_run(trigger, user=user, sources=sources)
        raise _queue_unavailable(run, exc) from exc


def _create_run_holding_lock(trigger, user, sources):
    """Create a queued run and take the lock for it, or raise AlreadyRunning.

    The run and the lock are taken in one transaction: when `cache.add` finds
    the lock held, the run is rolled back, so a losing trigger leaves no row.
    """
    for _attempt in range(LOCK_ATTEMPTS):
        holder_run = _active_holder_run()
        if holder_run is not None:
            raise AlreadyRunning(holder_run)
        try:
            with transaction.atomic():
                run = create_run(trigger, user=user, sources=sources)
                if not locking.acquire(run.pk):
                    raise _LockTaken
                run.job_id = job_id_for(run.pk)
                run.save(update_fields=["job_id"])
            return run
        except _LockTaken:
            # Another trigger won the race, so the next pass looks at its run.
            continue
    raise QueueUnavailable(
        _("The fetch lock changed hands %(count)d times in a row. Try again.")
        % {"count": LOCK_ATTEMPTS}
    )


def _active_holder_run():
    """Return the active run that holds the lock, or None when the lock is free.

    A lock whose run is finished, or was never committed, is stale: its owner
    died between two steps. Such a lock is released here so the caller can
    take it.
    """
    holder = locking.lock_holder()
    if holder is None:
        return _fanned_out_run_waiting()
    run = _wait_for_run(holder.run_id)
    if run is not None and run.is_active:
        return run

    if locking.release(holder.run_id):
        logger.warning(
            "released the stale fetch lock of run %s: the run is %s",
            holder.run_id,
            run.status if run is not None else "missing",
        )
    return None


def _fanned_out_run_waiting():
    """Return a running fanned-out run whose parts still wait or run, or None.

    Such a run can outlive its lock when every part waits in the queue for
    longer than NEWS_LOCK_TTL (no free worker). It takes the lock back here,
    so no second run starts beside it.
    """
    connection = django_rq.get_queue(QUEUE_NAME).connection
    for run in FetchRun.objects.filter(status=FetchRun.Status.RUNNING):
        if fanout.has_pending_jobs(connection, run.pk):
            if locking.acquire(run.pk):
                logger.warning("run %s took the fetch lock back: its parts still wait or run", run.pk)
            return run
    return None


def _wait_for_run(run_id):
    """Return FetchRun `run_id`, waiting briefly for the transaction that creates it."""
    deadline = time.monotonic() + HOLDER_COMMIT_WAIT
    while True:
        run = FetchRun.objects.filter(pk=run_id).first()
        if run is not None or time.monotonic() >= deadline:
            return run
        time.sleep(0.05)


def _enqueue(run):
    queue = django_rq.get_queue(QUEUE_NAME)
    queue.enqueue(
        JOB_FUNCTION,
        run.pk,
        job_id=run.job_id,
        job_timeout=settings.NEWS_JOB_TIMEOUT,
        on_failure=Callback(JOB_FAILURE_CALLBACK),
    )


def _queue_unavailable(run, exc):
    """Mark `run` failed because Redis is unreachable; return the error to raise."""
    reason = Message(
        gettext_lazy("Redis could not be reached: %(error)s"),
        {"error": f"{exc.__class__.__name__}: {exc}"},
    )
    FetchRun.objects.filter(pk=run.pk).update(
        status=FetchRun.Status.FAILED, error=render(reason), finished_at=timezone.now()
    )
    run.refresh_from_db()
    logger.error("run %s failed before it was queued: %s", run.pk, english(reason))
    return QueueUnavailable(
        _("Redis could not be reached (%(error)s). Check that it is running, then try again.")
        % {"error": exc},
        run=run,
    )


def last_alive_cutoff():
    """Return the time before which a run without the lock counts as dead."""
    return timezone.now() - timedelta(seconds=settings.NEWS_LOCK_TTL)


def _not_seen_since(cutoff):
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def reap_abandoned_runs(*, lock_owner=None):
    """Mark active runs whose worker died as abandoned; return those runs.

    A run is dead when it does not hold the lock and has not been seen alive
    (a heartbeat, or its creation while still queued) for NEWS_LOCK_TTL
    seconds. When the caller holds the lock for run `lock_owner`, every
    other active run has lost its lock, so all of them count as dead. Each
    dead run keeps in heartbeat_at the last time it was seen alive. A
    fanned-out run is alive while one of its jobs waits in RQ or runs. Its
    parts whose worker died are handed to RQ first (without `lock_owner`),
    which retries them or records them as failed.
    """
    active = Q(status__in=FetchRun.ACTIVE_STATUSES)
    if lock_owner is not None:
        dead = active & ~Q(pk=lock_owner)
        holder_id = lock_owner
    else:
        dead = active & _not_seen_since(last_alive_cutoff())
        holder_id = None
    queue = django_rq.get_queue(QUEUE_NAME)
    if lock_owner is None:
        fanout.recover_dead_parts(queue)
    candidates = list(FetchRun.objects.filter(dead))
    if not candidates:
        return []

    if lock_owner is None:
        holder = locking.lock_holder()
        holder_id = holder.run_id if holder is not None else None
    reaped = []
    for run in candidates:
        if run.pk == holder_id or fanout.has_pending_jobs(queue.connection, run.pk):
            continue
        error = _abandoned_reason(run)
        # The UPDATE repeats the conditions, so a run that ended in the
        # meantime (or, without a lock owner, beat again) is left alone.
        updated = FetchRun.objects.filter(dead, pk=run.pk).update(
            status=FetchRun.Status.ABANDONED, error=render(error), finished_at=timezone.now()
        )
        if updated:
            run.refresh_from_db()
            reaped.append(run)
            logger.warning("run %s marked abandoned: %s", run.pk, english(error))
    return reaped


def _abandoned_reason(run):
    if run.status == FetchRun.Status.QUEUED:
        return Message(
            gettext_lazy(
                "abandoned: no worker started it before its fetch lock expired; "
                "queued at %(time)s"
            ),
            {"time": run.created_at.isoformat()},
        )
    last_seen = run.heartbeat_at or run.created_at
    return Message(
        gettext_lazy(
            "abandoned: worker %(worker)s stopped sending heartbeats; last seen alive at %(time)s"
        ),
        {"worker": run.worker_name or "-", "time": last_seen.isoformat()},
    )


def release_stale_lock(user):
    """Release the lock of a run that is no longer alive; return True if released.

    Only a superuser may do this (PermissionDenied otherwise). A lock whose
    run is active and was seen alive within NEWS_LOCK_TTL is left alone.
    """
    if not user.is_superuser:
        raise PermissionDenied(_("Only a superuser can release the fetch lock."))

    holder = locking.lock_holder()
    if holder is None:
        return False
    run = FetchRun.objects.filter(pk=holder.run_id).first()
    if run is not None and run.is_active:
        last_seen = run.heartbeat_at or run.created_at
        if last_seen >= last_alive_cutoff():
            return False

    released = locking.release(holder.run_id)
    if released:
        logger.warning(
            "user %s (id %s) released the fetch lock of run %s (status %s)",
            user.get_username(),
            user.pk,
            holder.run_id,
            run.status if run is not None else "missing",
        )
        reap_abandoned_runs()
    return released
