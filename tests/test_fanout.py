"""Fan-out of large runs across real RQ worker processes, on the test database and Redis."""

import threading
import time
from datetime import timedelta

import pytest
from rq.exceptions import AbandonedJobError
from rq.job import JobStatus
from rq.worker import Worker

from news import fanout, locking
from news.jobs import (
    close_fanned_out_run_job,
    fetch_part_failed,
    fetch_part_stopped,
    start_fanned_out_run,
)
from news.models import Article, FetchRun, Source, SourceResult
from news.triggers import AlreadyRunning, job_id_for, reap_abandoned_runs, start_fetch
from tests.conftest import wait_for
from tests.feedserver import item, rss

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THRESHOLD = 50
BATCH_SIZE = 10
FANOUT_ENV = {"NEWS_FANOUT_THRESHOLD": str(THRESHOLD), "NEWS_FANOUT_BATCH_SIZE": str(BATCH_SIZE)}
# Generous bounds that only prove the run does not hang.
RUN_TIMEOUT = 60


@pytest.fixture
def fanout_settings(settings, fast_lock):
    """Fan-out above 50 sources in batches of 10, here and in the worker processes."""
    settings.NEWS_FANOUT_THRESHOLD = THRESHOLD
    settings.NEWS_FANOUT_BATCH_SIZE = BATCH_SIZE
    return {**fast_lock, **FANOUT_ENV}


def add_sources(feed_server, count, *, stalled_index=None, release=None, stalled=None):
    """Create `count` sources named in fetch order, each serving a one-item feed.

    The source at `stalled_index` sets `stalled` when its request arrives and
    sends its response only after `release` is set.
    """
    sources = []
    for index in range(count):
        body = rss(item(f"g{index}", f"第 {index} 則新聞"))
        path = f"/feeds/{index}.xml"
        if index == stalled_index:
            url = feed_server.add_handler(path, _stalling_handler(body, release, stalled))
        else:
            url = feed_server.add(path, body)
        sources.append(Source(name=f"來源 {index:03d}", url=url))
    return Source.objects.bulk_create(sources)


def _stalling_handler(body, release, stalled):
    def handler(request, server):
        stalled.set()
        while not release.wait(0.1):
            if server.stopping.is_set():
                return
        request._send(200, body, {"Content-Type": "application/rss+xml"})

    return handler


def start_workers(workers, env, count=3):
    """Start `count` workers and wait until they listen; return their processes and RQ names.

    Workers killed by earlier tests stay registered in Redis until their TTL
    runs out, so only the names that appear after the start count.
    """
    earlier = worker_names(workers.queue)
    processes = [workers.start(env) for _ in range(count)]
    started = wait_for(lambda: len(worker_names(workers.queue) - earlier) == count, 30)
    assert started, worker_logs(workers)
    return processes, worker_names(workers.queue) - earlier


def worker_names(queue):
    return {worker.name for worker in Worker.all(queue=queue)}


def run_status(run):
    return FetchRun.objects.values_list("status", flat=True).get(pk=run.pk)


def run_has_ended(run):
    return run_status(run) not in FetchRun.ACTIVE_STATUSES


def worker_logs(workers):
    return "\n".join(workers.log(index) for index in range(len(workers.processes)))


def test_large_run_spreads_over_three_workers(workers, fanout_settings, feed_server, settings):
    release, stalled = threading.Event(), threading.Event()
    # The last source stalls past the lock's TTL, so only the parts' heartbeats keep the lock.
    add_sources(feed_server, 300, stalled_index=299, release=release, stalled=stalled)
    processes, names = start_workers(workers, {**fanout_settings, "NEWS_READ_TIMEOUT": "30"})

    def release_after_lock_ttl():
        if stalled.wait(RUN_TIMEOUT):
            time.sleep(settings.NEWS_LOCK_TTL + 1)
        release.set()

    threading.Thread(target=release_after_lock_ttl, daemon=True).start()
    run = start_fetch(FetchRun.Trigger.HTTP)
    holders_while_active = []

    def ended_or_note_holder():
        holder = locking.lock_holder()
        if run_has_ended(run):
            return True
        holders_while_active.append(holder)
        return False

    try:
        assert wait_for(ended_or_note_holder, RUN_TIMEOUT, interval=0.2), worker_logs(workers)
    finally:
        release.set()

    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED, worker_logs(workers)
    assert run.finished_at - run.started_at > timedelta(seconds=settings.NEWS_LOCK_TTL)
    # The lock taken by the trigger was renewed throughout, never lost and taken again.
    assert None not in holders_while_active
    assert {holder.run_id for holder in holders_while_active} == {run.pk}
    assert len({holder.acquired_at for holder in holders_while_active}) == 1
    assert run.sources_total == 300
    assert run.sources_succeeded == 300
    assert run.sources_failed == 0
    assert run.entries_seen == 300
    assert run.articles_created == 300
    assert SourceResult.objects.filter(run=run).count() == 300
    assert Article.objects.count() == 300
    assert locking.lock_holder() is None

    parts = fanout.part_jobs(workers.queue.connection, run.pk)
    assert len(parts) == 300 // BATCH_SIZE
    assert {part.get_status() for part in parts} == {JobStatus.FINISHED}
    assert {part.worker_name for part in parts} == names
    assert sum(part.return_value()["fetched"] for part in parts) == 300
    assert all(process.poll() is None for process in processes)
    # Three worker processes write at once; on SQLite the busy timeout must cover it.
    assert "database is locked" not in worker_logs(workers)


def test_killed_worker_part_is_retried_elsewhere(workers, fanout_settings, feed_server):
    release, stalled = threading.Event(), threading.Event()
    # Sources are fetched in name order, so the source at index 4 is in the first part.
    add_sources(feed_server, 300, stalled_index=4, release=release, stalled=stalled)
    processes, _names = start_workers(workers, {**fanout_settings, "NEWS_READ_TIMEOUT": "30"})

    run = start_fetch(FetchRun.Trigger.HTTP)
    try:
        assert stalled.wait(30), worker_logs(workers)
        first_part = workers.queue.fetch_job(fanout.part_job_id(run.pk, 0))
        killed_name = first_part.worker_name
        killed_pid = Worker.find_by_key(Worker.redis_worker_namespace_prefix + killed_name, workers.queue.connection).pid
        killed = next(process for process in processes if process.pid == killed_pid)
        workers.kill(killed)
    finally:
        release.set()

    def reap_until_ended():
        # What the scheduled reaper does every NEWS_LOCK_TTL seconds.
        reap_abandoned_runs()
        return run_has_ended(run)

    assert wait_for(reap_until_ended, RUN_TIMEOUT, interval=0.5), worker_logs(workers)

    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED, worker_logs(workers)
    assert run.sources_total == 300
    assert run.sources_succeeded == 300
    assert run.articles_created == 300
    assert SourceResult.objects.filter(run=run).count() == 300
    assert Article.objects.count() == 300
    assert locking.lock_holder() is None

    first_part.refresh()
    assert first_part.get_status() == JobStatus.FINISHED
    assert first_part.retries_left == 0
    assert first_part.worker_name != killed_name
    # The retry fetched only the sources that the killed attempt had not stored.
    assert first_part.return_value()["fetched"] == BATCH_SIZE - 4


def test_part_timing_out_twice_fails_its_sources(workers, fanout_settings, feed_server, settings):
    settings.NEWS_JOB_TIMEOUT = 2
    release, stalled = threading.Event(), threading.Event()
    # One source per part: the second part stalls past the job timeout twice.
    add_sources(feed_server, 2, stalled_index=1, release=release, stalled=stalled)
    env = {
        **fanout_settings,
        "NEWS_FANOUT_THRESHOLD": "1",
        "NEWS_FANOUT_BATCH_SIZE": "1",
        "NEWS_JOB_TIMEOUT": "2",
        "NEWS_READ_TIMEOUT": "30",
        "NEWS_FETCH_DEADLINE": "60",
    }
    start_workers(workers, env, count=1)

    run = start_fetch(FetchRun.Trigger.HTTP)
    try:
        assert wait_for(lambda: run_has_ended(run), RUN_TIMEOUT), worker_logs(workers)
    finally:
        release.set()

    run.refresh_from_db()
    assert run.status == FetchRun.Status.PARTIALLY_FAILED, worker_logs(workers)
    assert run.sources_succeeded == 1
    assert run.sources_failed == 1
    failed = SourceResult.objects.get(run=run, status=SourceResult.Status.FAILED)
    # Workers store messages in LANGUAGE_CODE (zh-hant), and describe_failure() gives the reason in English.
    assert failed.error_message == "未抓取：其所屬分批工作失敗（2 秒後逾時），且已無重試次數"
    assert feed_server.hits("/feeds/1.xml") == 2
    assert locking.lock_holder() is None


@pytest.fixture
def fanned_out_run(fanout_settings, fetch_queue, feed_server):
    """A running run of 60 sources split into six parts that no worker has taken yet."""
    sources = add_sources(feed_server, 60)
    run = start_fetch(FetchRun.Trigger.HTTP)
    # The test splits the run itself, in place of the queued first job.
    fetch_queue.remove(run.job_id)
    start_fanned_out_run(run.pk, sources, queue=fetch_queue, worker_name="測試")
    return run


def test_part_without_retry_left_records_failed_sources(fanned_out_run, fetch_queue, english):
    run = fanned_out_run
    parts = fanout.part_jobs(fetch_queue.connection, run.pk)
    assert len(parts) == 6

    for part in parts[:-1]:
        part.retries_left = 0
        fetch_part_failed(part, fetch_queue.connection, AbandonedJobError, AbandonedJobError(), None)
    assert run_status(run) == FetchRun.Status.RUNNING
    assert locking.lock_holder().run_id == run.pk

    parts[-1].retries_left = 0
    fetch_part_failed(parts[-1], fetch_queue.connection, AbandonedJobError, AbandonedJobError(), None)

    run.refresh_from_db()
    assert run.status == FetchRun.Status.FAILED
    assert run.sources_failed == 60
    results = SourceResult.objects.filter(run=run)
    assert results.count() == 60
    assert results.filter(status=SourceResult.Status.FAILED).count() == 60
    assert results.first().error_message == (
        "not fetched: the worker running its part stopped (killed or lost), and the part has no retry left"
    )
    assert locking.lock_holder() is None


def test_part_with_retry_left_records_nothing(fanned_out_run, fetch_queue):
    run = fanned_out_run
    part = fanout.part_jobs(fetch_queue.connection, run.pk)[0]
    assert part.retries_left == 1

    fetch_part_failed(part, fetch_queue.connection, AbandonedJobError, AbandonedJobError(), None)

    assert SourceResult.objects.filter(run=run).count() == 0
    assert run_status(run) == FetchRun.Status.RUNNING


def test_stopped_part_cancels_closing_job(fanned_out_run, fetch_queue):
    run = fanned_out_run
    part = fanout.part_jobs(fetch_queue.connection, run.pk)[0]

    fetch_part_stopped(part, fetch_queue.connection)

    run.refresh_from_db()
    assert run.sources_failed == BATCH_SIZE
    assert run.status == FetchRun.Status.RUNNING
    closing = fetch_queue.fetch_job(fanout.closing_job_id(run.pk))
    assert closing.get_status() == JobStatus.CANCELED


def test_closing_job_fails_sources_without_result(fanned_out_run, fetch_queue, english):
    run = fanned_out_run
    source_ids = list(Source.objects.order_by("name").values_list("pk", flat=True))

    status = close_fanned_out_run_job(run.pk, source_ids)

    assert status == FetchRun.Status.FAILED
    run.refresh_from_db()
    assert run.sources_failed == 60
    assert SourceResult.objects.filter(run=run).count() == 60
    assert SourceResult.objects.filter(run=run).first().error_message == (
        "not fetched: its part ended without a result for it"
    )
    assert locking.lock_holder() is None


def test_reaper_spares_run_whose_parts_wait(fanned_out_run, fanout_settings, fetch_queue, workers):
    run = fanned_out_run
    # No worker takes the parts for longer than the lock lives.
    FetchRun.objects.filter(pk=run.pk).update(heartbeat_at=run.created_at - timedelta(hours=1))
    locking.release(run.pk)

    assert reap_abandoned_runs() == []
    assert run_status(run) == FetchRun.Status.RUNNING
    with pytest.raises(AlreadyRunning) as raised:
        start_fetch(FetchRun.Trigger.HTTP)
    assert raised.value.run.pk == run.pk
    assert locking.lock_holder().run_id == run.pk

    assert workers.run_burst(fanout_settings)
    assert wait_for(lambda: run_has_ended(run), RUN_TIMEOUT), workers.log()
    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED, workers.log()
    assert run.sources_succeeded == 60
    assert locking.lock_holder() is None


def test_run_at_threshold_stays_one_job(fanout_settings, workers, feed_server):
    add_sources(feed_server, THRESHOLD)
    run = start_fetch(FetchRun.Trigger.HTTP)

    assert workers.run_burst(fanout_settings)

    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED, workers.log()
    assert run.sources_succeeded == THRESHOLD
    assert fanout.part_jobs(workers.queue.connection, run.pk) == []
    assert workers.finished_jobs_of(run) == [job_id_for(run.pk)]
