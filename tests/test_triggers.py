import logging
import socket
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from django.utils import timezone, translation

from news import locking, triggers
from news.jobs import scheduled_fetch
from news.models import FetchRun
from news.triggers import (
    AlreadyRunning,
    QueueUnavailable,
    reap_abandoned_runs,
    release_stale_lock,
    start_fetch,
)

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port_url():
    """Return a redis:// URL on a 127.0.0.1 port that was just closed, so a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def unreachable_redis(settings):
    url = closed_port_url()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.RQ_QUEUES = {"default": {"URL": url, "DEFAULT_TIMEOUT": 60}}


def test_start_fetch_queues_run_with_job(fetch_queue, settings):
    run = start_fetch(FetchRun.Trigger.HTTP)
    job = fetch_queue.fetch_job(run.job_id)
    assert run.status == FetchRun.Status.QUEUED
    assert run.job_id == f"fetch-run-{run.pk}"
    assert fetch_queue.job_ids == [run.job_id]
    assert job.args == (run.pk,)
    assert job.timeout == settings.NEWS_JOB_TIMEOUT


def test_start_fetch_holds_lock_for_run(fetch_queue):
    run = start_fetch(FetchRun.Trigger.HTTP)
    assert locking.lock_holder().run_id == run.pk


def test_start_fetch_keeps_requested_sources(fetch_queue, make_source):
    source = make_source("http://127.0.0.1:9/一.xml", name="一")
    run = start_fetch(FetchRun.Trigger.ADMIN, sources=[source])
    assert list(run.requested_sources.all()) == [source]


def test_second_trigger_raises_already_running(fetch_queue):
    first = start_fetch(FetchRun.Trigger.HTTP)
    with pytest.raises(AlreadyRunning) as raised:
        start_fetch(FetchRun.Trigger.ADMIN)
    assert raised.value.run.pk == first.pk


def test_losing_trigger_leaves_no_run(fetch_queue):
    start_fetch(FetchRun.Trigger.HTTP)
    with pytest.raises(AlreadyRunning):
        start_fetch(FetchRun.Trigger.ADMIN)
    assert FetchRun.objects.count() == 1
    assert fetch_queue.count == 1


def test_unreachable_redis_fails_run(unreachable_redis, english):
    with pytest.raises(QueueUnavailable) as raised:
        start_fetch(FetchRun.Trigger.HTTP)
    run = FetchRun.objects.get()
    assert raised.value.run.pk == run.pk
    assert run.status == FetchRun.Status.FAILED
    assert "Redis could not be reached" in run.error
    assert run.finished_at is not None


def test_unreachable_queue_fails_run_and_frees_lock(fetch_queue, settings):
    settings.RQ_QUEUES = {"default": {"URL": closed_port_url(), "DEFAULT_TIMEOUT": 60}}
    with pytest.raises(QueueUnavailable):
        start_fetch(FetchRun.Trigger.HTTP)
    assert FetchRun.objects.get().status == FetchRun.Status.FAILED
    assert locking.lock_holder() is None


def test_stale_lock_of_finished_run_is_released(fetch_queue):
    finished = FetchRun.objects.create(trigger=FetchRun.Trigger.HTTP, status=FetchRun.Status.SUCCEEDED)
    locking.acquire(finished.pk)
    run = start_fetch(FetchRun.Trigger.HTTP)
    assert locking.lock_holder().run_id == run.pk


def test_lock_of_uncommitted_run_is_released(fetch_queue, settings, monkeypatch):
    monkeypatch.setattr(triggers, "HOLDER_COMMIT_WAIT", 0.2)
    locking.acquire(987654)
    run = start_fetch(FetchRun.Trigger.HTTP)
    assert locking.lock_holder().run_id == run.pk


def dead_run(seconds_ago, status=FetchRun.Status.RUNNING, **fields):
    last_seen = timezone.now() - timedelta(seconds=seconds_ago)
    return FetchRun.objects.create(
        trigger=FetchRun.Trigger.HTTP,
        status=status,
        created_at=last_seen,
        heartbeat_at=last_seen if status == FetchRun.Status.RUNNING else None,
        worker_name="工作者-1",
        **fields,
    )


def test_reap_marks_silent_run_abandoned(fetch_queue, settings):
    run = dead_run(settings.NEWS_LOCK_TTL + 5)
    heartbeat = run.heartbeat_at
    assert [reaped.pk for reaped in reap_abandoned_runs()] == [run.pk]
    run.refresh_from_db()
    assert run.status == FetchRun.Status.ABANDONED
    assert run.heartbeat_at == heartbeat
    assert "工作者-1" in run.error


@pytest.mark.parametrize("language, expected", [("en", "stopped sending heartbeats"), ("zh-hant", "停止發送心跳")])
def test_reap_stores_reason_in_active_language(fetch_queue, settings, language, expected):
    run = dead_run(settings.NEWS_LOCK_TTL + 5)
    with translation.override(language):
        reap_abandoned_runs()
    run.refresh_from_db()
    assert expected in run.error


def test_reap_marks_never_started_run_abandoned(fetch_queue, settings, english):
    run = dead_run(settings.NEWS_LOCK_TTL + 5, status=FetchRun.Status.QUEUED)
    reap_abandoned_runs()
    run.refresh_from_db()
    assert run.status == FetchRun.Status.ABANDONED
    assert run.error.startswith("abandoned: no worker started it")


def test_reap_leaves_lock_holder_alone(fetch_queue, settings):
    run = dead_run(settings.NEWS_LOCK_TTL + 5)
    locking.acquire(run.pk)
    assert reap_abandoned_runs() == []


def test_reap_leaves_recent_run_alone(fetch_queue):
    dead_run(1)
    assert reap_abandoned_runs() == []


def test_trigger_reaps_dead_run(fetch_queue, settings):
    old = dead_run(settings.NEWS_LOCK_TTL + 5)
    start_fetch(FetchRun.Trigger.HTTP)
    old.refresh_from_db()
    assert old.status == FetchRun.Status.ABANDONED


@pytest.fixture
def superuser():
    return User.objects.create_superuser("管理員", password="密碼-12345")


def test_release_stale_lock_needs_superuser(fetch_queue):
    staff = User.objects.create_user("編輯", password="密碼-12345", is_staff=True)
    with pytest.raises(PermissionDenied):
        release_stale_lock(staff)


def test_release_stale_lock_keeps_live_holder(fetch_queue, superuser):
    run = start_fetch(FetchRun.Trigger.HTTP)
    assert not release_stale_lock(superuser)
    assert locking.lock_holder().run_id == run.pk


def test_release_stale_lock_frees_dead_holder(fetch_queue, superuser, settings, caplog):
    run = dead_run(settings.NEWS_LOCK_TTL + 5)
    locking.acquire(run.pk)
    with caplog.at_level(logging.WARNING, logger="news.triggers"):
        assert release_stale_lock(superuser)
    assert locking.lock_holder() is None
    assert f"user 管理員 (id {superuser.pk}) released the fetch lock of run {run.pk}" in caplog.text


def test_release_stale_lock_without_lock_is_false(fetch_queue, superuser):
    assert not release_stale_lock(superuser)


def test_scheduled_fetch_skips_active_run(fetch_queue, caplog):
    active = start_fetch(FetchRun.Trigger.HTTP)
    with caplog.at_level(logging.INFO, logger="news.jobs"):
        assert scheduled_fetch() is None
    assert f"scheduled fetch skipped: run {active.pk} is queued" in caplog.text


def test_scheduled_fetch_starts_run(fetch_queue):
    run_id = scheduled_fetch()
    assert FetchRun.objects.get(pk=run_id).trigger == FetchRun.Trigger.SCHEDULE


def race_triggers(count):
    """Call start_fetch from `count` threads at once; return (runs started, AlreadyRunning count)."""
    barrier = threading.Barrier(count)
    started, rejected = [], []

    def trigger():
        barrier.wait()
        try:
            started.append(start_fetch(FetchRun.Trigger.HTTP))
        except AlreadyRunning:
            rejected.append(1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=trigger) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return started, len(rejected)


def test_concurrent_triggers_start_one_run(fetch_queue):
    started, rejected = race_triggers(20)
    assert len(started) == 1
    assert rejected == 19
    assert fetch_queue.count == 1


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite runs one IMMEDIATE transaction at a time, which serializes even a get-then-set lock",
)
def test_race_check_catches_get_then_set_lock(fetch_queue, monkeypatch):
    """A lock taken with get() then set() lets duplicates through, and race_triggers shows it."""
    cache = locking.lock_cache()

    def get_then_set(run_id, ttl=None):
        if cache.get(locking.lock_key()) is not None:
            return False
        threading.Event().wait(0.05)
        cache.set(locking.lock_key(), locking._encode(run_id, timezone.now()), 60)
        return True

    monkeypatch.setattr(locking, "acquire", get_then_set)
    started, _rejected = race_triggers(10)
    assert len(started) > 1
