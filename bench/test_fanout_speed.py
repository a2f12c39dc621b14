"""Time a 300-source run as one job and split into 30 parts over one and three workers.

Not part of the test suite (pytest.ini collects tests/ only). Run it with
`.venv/bin/pytest bench/test_fanout_speed.py -s`, with the same
DATABASE_URL and REDIS_URL choices as the tests. Each source serves a
one-item feed from the local feed server. Without added latency the numbers
show the cost of splitting a run. With 50 ms before each response they
show the network waits that several workers overlap.
"""

import time

import pytest

from news.models import FetchRun, Source
from news.triggers import start_fetch
from tests.conftest import wait_for
from tests.feedserver import item, rss
from tests.test_fanout import add_sources, run_has_ended, start_workers

pytestmark = [pytest.mark.django_db(transaction=True)]

SOURCES = 300
LATENCY = 0.05


def add_slow_sources(feed_server, count, latency):
    """Create `count` sources whose one-item feeds each respond after `latency` seconds."""
    sources = []
    for index in range(count):
        body = rss(item(f"g{index}", f"第 {index} 則新聞"))

        def handler(request, server, body=body):
            time.sleep(latency)
            request._send(200, body, {"Content-Type": "application/rss+xml"})

        url = feed_server.add_handler(f"/slow/{index}.xml", handler)
        sources.append(Source(name=f"來源 {index:03d}", url=url))
    Source.objects.bulk_create(sources)


@pytest.mark.parametrize("latency", [0, LATENCY], ids=["no-latency", "50ms-latency"])
@pytest.mark.parametrize(
    ("threshold", "worker_count"),
    [(SOURCES, 1), (50, 1), (50, 3)],
    ids=["one-job", "split-1-worker", "split-3-workers"],
)
def test_run_time(workers, fast_lock, feed_server, threshold, worker_count, latency):
    if latency:
        add_slow_sources(feed_server, SOURCES, latency)
    else:
        add_sources(feed_server, SOURCES)
    env = {**fast_lock, "NEWS_FANOUT_THRESHOLD": str(threshold), "NEWS_FANOUT_BATCH_SIZE": "10"}
    start_workers(workers, env, count=worker_count)

    started = time.monotonic()
    run = start_fetch(FetchRun.Trigger.HTTP)
    assert wait_for(lambda: run_has_ended(run), 300, interval=0.05)
    elapsed = time.monotonic() - started

    run.refresh_from_db()
    assert run.status == FetchRun.Status.SUCCEEDED
    print(
        f"\nthreshold={threshold} workers={worker_count} latency={latency * 1000:.0f} ms: {SOURCES} sources, "
        f"{run.articles_created} articles, {elapsed:.2f} s from trigger to end"
    )
