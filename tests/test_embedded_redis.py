import redis

from news.embedded_redis import running_if_embedded, wait_until_ready


def test_embedded_redis_starts_when_down(settings, tmp_path):
    settings.EMBEDDED_REDIS_SOCKET = tmp_path / "redis.sock"
    settings.REDIS_URL = f"unix://{settings.EMBEDDED_REDIS_SOCKET}"
    with running_if_embedded() as server:
        assert server is not None
        assert redis.Redis.from_url(settings.REDIS_URL).ping()


def test_embedded_redis_stops_after_block(settings, tmp_path):
    settings.EMBEDDED_REDIS_SOCKET = tmp_path / "redis.sock"
    settings.REDIS_URL = f"unix://{settings.EMBEDDED_REDIS_SOCKET}"
    with running_if_embedded():
        pass
    assert wait_until_ready(settings.REDIS_URL, timeout=0.2) is False


def test_embedded_redis_is_left_alone_with_redis_url(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with running_if_embedded() as server:
        assert server is None
