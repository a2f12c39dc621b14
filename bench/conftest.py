"""The test suite's fixtures (real Redis, test database, feed server, RQ workers) for the benchmarks."""

from tests.conftest import (  # noqa: F401
    _feed_server_instance,
    _redis_server,
    fast_lock,
    feed_server,
    fetch_queue,
    pytest_sessionstart,
    workers,
)
