from datetime import timedelta

import pytest
from django.utils import timezone

from news import locking


@pytest.fixture
def free_lock(fetch_queue):
    """The fetch lock, free at the start of the test."""
    return locking


def raw_client():
    client, key = locking._client_and_key()
    return client, key


def test_acquire_is_exclusive(free_lock):
    assert locking.acquire(1)
    assert not locking.acquire(2)


def test_lock_key_has_finite_ttl(free_lock, settings):
    locking.acquire(1)
    client, key = raw_client()
    ttl = client.ttl(key)
    assert 0 < ttl <= settings.NEWS_LOCK_TTL


def test_lock_holder_names_run_and_time(free_lock):
    before = timezone.now()
    locking.acquire(7)
    holder = locking.lock_holder()
    assert holder.run_id == 7
    assert before - timedelta(seconds=1) <= holder.acquired_at <= timezone.now()
    assert holder.acquired_at.tzinfo is not None
    assert holder.ttl_seconds > 0


def test_lock_holder_of_free_lock_is_none(free_lock):
    assert locking.lock_holder() is None


def test_release_by_owner_frees_lock(free_lock):
    locking.acquire(1)
    assert locking.release(1)
    assert locking.lock_holder() is None


def test_late_release_keeps_next_runs_lock(free_lock):
    locking.acquire(1)
    client, key = raw_client()
    # Run 1's lock expires while run 1 still works; run 2 takes the lock.
    client.delete(key)
    locking.acquire(2)
    assert not locking.release(1)
    assert locking.lock_holder().run_id == 2


def test_extend_by_other_run_is_rejected(free_lock):
    locking.acquire(1)
    assert not locking.extend(2)


def test_extend_resets_ttl(free_lock, settings):
    locking.acquire(1, ttl=2)
    assert locking.extend(1, ttl=50)
    client, key = raw_client()
    assert client.ttl(key) > 2


def test_lock_prefix_separates_installations(free_lock, settings):
    locking.acquire(1)
    settings.NEWS_LOCK_PREFIX = "另一個安裝"
    try:
        assert locking.acquire(2)
    finally:
        locking.release(2)
