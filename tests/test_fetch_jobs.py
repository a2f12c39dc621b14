"""Fetch runs executed by real RQ worker processes on the test database and Redis."""

import threading
import time

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from rq.exceptions import AbandonedJobError

from news import locking
from news.jobs import LockLost, execute_run, fetch_job_failed
from news.models import Article, FetchRun
from news.triggers import AlreadyRunning, create_locked_run, job_id_for, start_fetch
from tests.conftest import wait_for
from tests.feedserver import item, rss

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TOKEN = "test-trigger-token-0123456789"
# Feed servers in these tests stall longer than the suite's default read timeout.
PATIENT_DOWNLOADS = {"NEWS_READ_TIMEOUT": "30", "NEWS_FETCH_DEADLINE": "60"}
# Worker processes store run errors in their LANGUAGE_CODE.
ENGLISH_WORKER = {"DJANGO_LANGUAGE_CODE": "en"}


def stalling_route(feed_server, path, release, *, body=None, stalled=None):
    """Serve `path` only after `release` is set, then send `body` (or close without a response)."""

    def handler(request, server):
        if stalled is not None:
            stalled.set()
        while not release.wait(0.1):
            if server.stopping.is_set():
                return
        if body is not None:
            request._send(200, body, {"Content-Type": "application/rss+xml"})

    return feed_server.add_handler(path, handler)


def status_of(run):
    return FetchRun.objects.values_list("status", flat=True).get(pk=run.pk)


@pytest.fixture
def token(settings):
    settings.NEWS_TRIGGER_TOKEN = TOKEN
    return TOKEN


def test_worker_runs_queued_fetch(workers, feed_server, make_source):
    make_source(feed_server.add("/news.xml", rss(item("n1", "台北下雨"), item("n2", "高雄放晴"))))
    run = start_fetch(FetchRun.Trigger.HTTP)
    assert workers.run_burst()
    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED, workers.log()
    assert run.articles_created == 2
    assert run.worker_name.endswith(f"pid {run.worker_name.rsplit(' ', 1)[-1]}")
    assert locking.lock_holder() is None


def test_fifty_concurrent_posts_start_one_run(workers, live_server, token, feed_server, make_source):
    make_source(feed_server.add("/news.xml", rss(item("n1", "台北下雨"))))
    url = f"{live_server.url}/api/fetch-runs/"
    barrier = threading.Barrier(50)
    statuses = []

    def post():
        barrier.wait()
        response = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert statuses.count(202) == 1
    assert statuses.count(409) == 49
    assert FetchRun.objects.count() == 1
    assert workers.fetch_queue_count() == 1

    assert workers.run_burst()
    run = FetchRun.objects.get()
    assert run.status == FetchRun.Status.SUCCEEDED, workers.log()
    assert workers.finished_jobs_of(run) == [job_id_for(run.pk)]


def test_killed_worker_run_is_abandoned(
    workers, fast_lock, feed_server, make_source, settings
):
    env = {**fast_lock, **PATIENT_DOWNLOADS}
    make_source(feed_server.add("/a.xml", rss(item("a1", "一號"), item("a2", "二號"), item("a3", "三號"))), name="1 甲")
    release, stalled = threading.Event(), threading.Event()
    stalled_url = stalling_route(feed_server, "/b.xml", release, stalled=stalled)
    make_source(stalled_url, name="2 乙")

    first = start_fetch(FetchRun.Trigger.HTTP)
    worker = workers.start(env)
    try:
        assert stalled.wait(30), workers.log()
        assert Article.objects.count() == 3

        workers.kill(worker)
        killed_at = time.monotonic()
        # The lock outlives the worker by up to NEWS_LOCK_TTL seconds.
        with pytest.raises(AlreadyRunning):
            start_fetch(FetchRun.Trigger.HTTP)
        assert wait_for(lambda: locking.lock_holder() is None, settings.NEWS_LOCK_TTL + 5)
        assert time.monotonic() - killed_at <= settings.NEWS_LOCK_TTL + 5
    finally:
        release.set()

    feed_server.add("/b.xml", rss(item("b1", "四號"), item("b2", "五號")))
    # The trigger after the lock expired marks the dead run abandoned.
    second = wait_for(lambda: _try_start(), settings.NEWS_LOCK_TTL + 2)
    assert second is not None
    first.refresh_from_db()
    assert first.status == FetchRun.Status.ABANDONED
    assert first.heartbeat_at is not None
    assert first.heartbeat_at.isoformat() in first.error

    assert workers.run_burst(env)
    second.refresh_from_db()
    assert second.status == FetchRun.Status.SUCCEEDED, workers.log(1)
    assert Article.objects.count() == 5
    assert Article.objects.filter(first_run=first).count() == 3
    assert Article.objects.filter(first_run=second).count() == 2


def _try_start():
    try:
        return start_fetch(FetchRun.Trigger.HTTP)
    except AlreadyRunning:
        return None


# SimpleWorker is the worker of `make run` (Procfile.dev): it runs the job
# without a forked work-horse, and its timeout must still end the run.
@pytest.mark.parametrize("worker_class", [None, "rq.worker.SimpleWorker"])
def test_job_timeout_fails_run(workers, fast_lock, feed_server, make_source, settings, worker_class):
    settings.NEWS_JOB_TIMEOUT = 2
    release = threading.Event()
    make_source(stalling_route(feed_server, "/silent.xml", release))
    run = start_fetch(FetchRun.Trigger.HTTP)
    try:
        env = {**fast_lock, **PATIENT_DOWNLOADS, **ENGLISH_WORKER}
        assert workers.run_burst(env, worker_class=worker_class)
    finally:
        release.set()
    run.refresh_from_db()
    assert run.status == FetchRun.Status.FAILED, workers.log()
    assert run.error == "timed out after 2 s"
    assert locking.lock_holder() is None


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(User.objects.create_superuser("管理員", password="密碼-12345"))
    return client


def test_long_source_keeps_lock_while_other_requests_answer(
    workers, fast_lock, token, feed_server, make_source, settings, admin_client_
):
    release, stalled = threading.Event(), threading.Event()
    body = rss(item("s1", "慢慢來"))
    make_source(stalling_route(feed_server, "/slow.xml", release, body=body, stalled=stalled))
    run = start_fetch(FetchRun.Trigger.HTTP)
    workers.start({**fast_lock, **PATIENT_DOWNLOADS}, burst=True)
    try:
        assert stalled.wait(30), workers.log()
        # Outlast the lock's TTL while the source stalls: the heartbeat must renew it.
        time.sleep(settings.NEWS_LOCK_TTL + 1)

        started = time.monotonic()
        response = Client().post("/api/fetch-runs/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert time.monotonic() - started < 1
        assert response.status_code == 409
        assert response.json()["active_run"]["id"] == run.pk

        for path in ["/admin/news/fetchrun/", "/admin/news/article/", f"/api/fetch-runs/{run.pk}/"]:
            started = time.monotonic()
            response = admin_client_.get(path)
            assert time.monotonic() - started < 2, path
            assert response.status_code == 200, path
        assert FetchRun.objects.filter(status=FetchRun.Status.RUNNING).count() == 1
        running = FetchRun.objects.get(pk=run.pk)
        assert running.heartbeat_at > running.started_at
    finally:
        release.set()

    assert workers.wait_for_jobs([run.job_id])
    assert status_of(run) == FetchRun.Status.SUCCEEDED, workers.log()


def test_requests_answer_while_worker_stores_two_thousand_items(
    workers, token, feed_server, make_source, admin_client_, caplog
):
    release = threading.Event()
    body = rss(*[item(f"g{i}", f"第 {i} 則新聞") for i in range(2000)])
    make_source(stalling_route(feed_server, "/big.xml", release, body=body))
    run = start_fetch(FetchRun.Trigger.HTTP)
    workers.start(burst=True)
    release.set()

    durations, statuses = [], []
    trigger_client = Client()
    while len(statuses) < 20 or status_of(run) in FetchRun.ACTIVE_STATUSES:
        for send in (
            lambda: trigger_client.post("/api/fetch-runs/", HTTP_AUTHORIZATION=f"Bearer {token}"),
            lambda: admin_client_.get("/admin/news/article/"),
        ):
            started = time.monotonic()
            statuses.append(send().status_code)
            durations.append(time.monotonic() - started)
        if len(statuses) > 400:
            break

    assert workers.wait_for_jobs([run.job_id])
    assert 500 not in statuses
    # A bound that shows no request waits for the store to finish. The
    # response-time target under load is measured by bench.trigger_load.
    assert max(durations) < 30
    assert "database is locked" not in workers.log()
    assert "database is locked" not in caplog.text
    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED, workers.log()
    assert run.articles_created == 2000
    assert Article.objects.count() == 2000


def test_run_that_loses_its_lock_stops(fast_lock, fetch_queue, feed_server, make_source, english):
    release = threading.Event()
    body = rss(item("l1", "失去鎖"))
    make_source(stalling_route(feed_server, "/first.xml", release, body=body), name="1 先")
    second_url = feed_server.add("/second.xml", rss(item("l2", "不該抓")))
    make_source(second_url, name="2 後")
    run = create_locked_run(FetchRun.Trigger.COMMAND)

    def take_lock_away():
        client, key = locking._client_and_key()
        client.delete(key)
        locking.acquire(999999)
        # The first source ends after two heartbeats, when the run has seen the lock is gone.
        threading.Timer(2.5, release.set).start()

    threading.Timer(0.3, take_lock_away).start()
    with pytest.raises(LockLost):
        execute_run(run.pk, worker_name="測試")

    run.refresh_from_db()
    assert run.status == FetchRun.Status.FAILED
    assert run.error.startswith("lost the fetch lock")
    assert feed_server.hits("/second.xml") == 0
    assert locking.lock_holder().run_id == 999999


def test_failure_callback_marks_abandoned_job_run(fetch_queue):
    run = start_fetch(FetchRun.Trigger.HTTP)
    job = fetch_queue.fetch_job(run.job_id)
    fetch_job_failed(job, fetch_queue.connection, AbandonedJobError, AbandonedJobError(), None)
    run.refresh_from_db()
    assert run.status == FetchRun.Status.ABANDONED
    assert locking.lock_holder() is None
