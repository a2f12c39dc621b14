import os
import subprocess
import sys

import pytest
import redis

from news.embedded_redis import EmbeddedRedis, SocketInUse, running_if_embedded, wait_until_ready
from tests.conftest import REPO_ROOT


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


def test_embedded_redis_start_keeps_live_server(tmp_path):
    first = EmbeddedRedis(tmp_path / "redis.sock").start()
    try:
        with pytest.raises(SocketInUse):
            EmbeddedRedis(tmp_path / "redis.sock").start()
        assert redis.Redis.from_url(first.url).ping()
    finally:
        first.stop()


@pytest.mark.slow
def test_embedded_redis_command_keeps_live_server(tmp_path):
    # A second `make run` in the same checkout must not take over the
    # socket, or the two stacks would hold separate fetch locks.
    first = EmbeddedRedis(tmp_path / "redis.sock").start()
    redis.Redis.from_url(first.url).set("marker", "第一個伺服器")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsproject.settings",
        "DJANGO_DEBUG": "1",
        "DJANGO_LANGUAGE_CODE": "en",
        "NEWS_VAR_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    try:
        second = subprocess.run(
            [sys.executable, "manage.py", "embedded_redis"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
        marker = redis.Redis.from_url(first.url).get("marker")
    finally:
        first.stop()

    assert second.returncode == 1
    assert "already answers" in second.stderr
    assert marker == "第一個伺服器".encode()
