"""A second `make run` in the same checkout takes over the first one's embedded Redis socket.

The `embedded_redis` command unlinks var/redis.sock and starts its own
redis-server there, even when a live server already listens on it. The
first stack then talks to the second server, with a separate fetch lock,
and loses Redis entirely when the second stack stops.
"""

import os
import subprocess
import sys
import time

import pytest
import redis

from news.embedded_redis import EmbeddedRedis
from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_embedded_redis_command_keeps_live_server(tmp_path):
    first = EmbeddedRedis(tmp_path / "redis.sock").start()
    redis.Redis.from_url(first.url).set("marker", "第一個伺服器")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsproject.settings",
        "DJANGO_DEBUG": "1",
        "NEWS_VAR_DIR": str(tmp_path),
    }
    env.pop("REDIS_URL", None)
    second = subprocess.Popen(
        [sys.executable, "manage.py", "embedded_redis"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        # Django setup and redis-server start take about a second here, so
        # 3 s is enough for the command to replace the socket.
        time.sleep(3)
        marker = redis.Redis.from_url(first.url).get("marker")
    finally:
        second.terminate()
        second.wait(timeout=10)
        first.stop()

    assert marker == "第一個伺服器".encode()
