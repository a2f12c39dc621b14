"""The heartbeat of a running fetch against a Redis that cannot be reached."""

import time

import pytest

from news.jobs import Heartbeat
from news.models import FetchRun
from tests.test_triggers import unreachable_redis  # noqa: F401 - fixture


@pytest.mark.django_db(transaction=True)
def test_heartbeat_without_redis_for_lock_ttl_loses_lock(unreachable_redis, settings):  # noqa: F811
    # A lock that could not be extended for NEWS_LOCK_TTL seconds has expired,
    # so the run must stop as if another run had taken it.
    settings.NEWS_LOCK_TTL = 2
    run = FetchRun.objects.create(trigger=FetchRun.Trigger.COMMAND, status=FetchRun.Status.RUNNING)
    started = time.monotonic()
    heartbeat = Heartbeat(run.pk, interval=0.2).start()
    try:
        lost = heartbeat.lost.wait(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        heartbeat.stop()

    assert lost
    assert elapsed >= settings.NEWS_LOCK_TTL
