import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import django_rq
import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone, translation
from rq.job import JobStatus

from news import hosts
from news.embedded_redis import EmbeddedRedis
from news.locking import lock_cache, lock_key
from news.models import Article, Source
from news.translations import catalog_paths, compile_catalog
from news.triggers import QUEUE_NAME, job_id_for
from tests.feedserver import FeedServer

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session):
    # Pages are checked in Chinese, so the .mo files must match the .po files
    # before any catalog is loaded, and `make test` compiles them too.
    for po_path in catalog_paths():
        compile_catalog(po_path)


def shared_feeds_dir():
    """Folder of the shared feed captures: ../shared/feeds beside the repository."""
    return Path(os.environ.get("NEWS_SHARED_FEEDS", REPO_ROOT.parent / "shared" / "feeds"))


@pytest.fixture(scope="session")
def _feed_server_instance():
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def feed_server(_feed_server_instance):
    """The session's feed server with no routes, recorded requests or host wait."""
    _feed_server_instance.routes.clear()
    _feed_server_instance.requests.clear()
    hosts.clear_wait(_feed_server_instance.url("/"))
    yield _feed_server_instance
    hosts.clear_wait(_feed_server_instance.url("/"))


@pytest.fixture
def english():
    """Messages in English, in this thread and in the fetch pool's threads."""
    with translation.override("en"):
        yield


@pytest.fixture
def make_source(db):
    def make(url, name=None, **fields):
        return Source.objects.create(
            name=name or f"來源 {Source.objects.count() + 1}", url=url, **fields
        )

    return make


def _staff_user(username, *codenames):
    user = User.objects.create_user(username, password="test-password", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="news", codename__in=codenames)
    )
    return user


@pytest.fixture
def editor(db):
    """A staff user who manages sources and may start a fetch."""
    return _staff_user(
        "編輯",
        "view_source", "add_source", "change_source", "view_article", "view_fetchrun",
        "start_fetch",
    )


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def reader(db):
    """A staff user who may look at everything but start nothing."""
    return _staff_user("讀者", "view_source", "view_article", "view_fetchrun")


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("管理員", password="test-password")


@pytest.fixture
def make_article(db):
    def make(title, *, sources=(), **fields):
        number = Article.objects.count() + 1
        fields.setdefault("published_at", timezone.now())
        fields.setdefault("link", f"https://news.example.tw/{number}")
        article = Article.objects.create(identity=f"test-{number}", title=title, **fields)
        article.sources.set(sources)
        return article

    return make


@pytest.fixture
def articles_in_three_sources(make_source, make_article):
    """Twelve articles, each in one to three of three sources, for query counts."""
    sources = [make_source(f"https://news.example.tw/{number}.xml") for number in range(3)]
    return [
        make_article(
            f"新聞 {number}", sources=sources[: number % 3 + 1], publisher_name=f"媒體 {number}"
        )
        for number in range(12)
    ]


@pytest.fixture(scope="session", autouse=True)
def _redis_server():
    """Start the embedded Redis for the session where REDIS_URL is unset."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    from django.conf import settings

    server = EmbeddedRedis(settings.EMBEDDED_REDIS_SOCKET, logfile=settings.VAR_DIR / "test-redis.log").start()
    yield server
    server.stop()


@pytest.fixture
def fetch_queue():
    """The RQ queue of fetch jobs, emptied with the fetch lock freed before and after the test."""
    queue = django_rq.get_queue(QUEUE_NAME)
    _clear_queue(queue)
    yield queue
    _clear_queue(queue)


def _clear_queue(queue):
    queue.empty()
    registries = [
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
        queue.canceled_job_registry,
    ]
    for registry in registries:
        for job_id in registry.get_job_ids():
            job = queue.fetch_job(job_id)
            if job is not None:
                job.delete(remove_from_queue=False)
        queue.connection.delete(registry.key)
    lock_cache().delete(lock_key())


@pytest.fixture
def fast_lock(settings):
    """A 3-second lock TTL here and in the worker processes the test starts."""
    settings.NEWS_LOCK_TTL = 3
    return {"NEWS_LOCK_TTL": "3"}


class Workers:
    """RQ worker processes of one test, on that test's database and Redis."""

    def __init__(self, log_dir, queue):
        self.log_dir = log_dir
        self.queue = queue
        self.processes = []

    def fetch_queue_count(self):
        return self.queue.count

    def finished_jobs_of(self, run):
        """Return the ids of finished jobs that belong to `run`, sorted.

        Filtering by run keeps a job left by an earlier test (for example one
        that finished while that test's workers were being killed) out of
        this test's count.
        """
        prefix = job_id_for(run.pk)
        return sorted(
            job_id
            for job_id in self.queue.finished_job_registry.get_job_ids()
            if job_id == prefix or job_id.startswith(prefix + "-")
        )

    def environment(self, overrides=None):
        env = dict(os.environ)
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
        env["NEWS_TEST_DATABASE_NAME"] = str(connection.settings_dict["NAME"])
        env.update(overrides or {})
        return env

    def start(self, env=None, *, burst=False, worker_class=None):
        """Start `manage.py rqworker` in its own session and return the Popen."""
        command = [sys.executable, str(REPO_ROOT / "manage.py"), "rqworker", QUEUE_NAME]
        if burst:
            command.append("--burst")
        if worker_class:
            command += ["--worker-class", worker_class]
        log = open(self.log_dir / f"worker-{len(self.processes)}.log", "wb")
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self.environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def run_burst(self, env=None, timeout=60, worker_class=None):
        """Run a burst worker until the jobs queued now have ended; return True if they did.

        The worker is then killed instead of awaited, so the test does not
        depend on how fast RQ stops its pub/sub thread (up to 60 s with rq
        3.0.0 and redis 8.2.0).
        """
        job_ids = self.queue.job_ids
        process = self.start(env, burst=True, worker_class=worker_class)
        ended = self.wait_for_jobs(job_ids, timeout)
        if process.poll() is None:
            self.kill(process)
        return ended

    def wait_for_jobs(self, job_ids, timeout=60):
        """Wait until the RQ jobs `job_ids` have finished or failed; return True if they did."""
        ended = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)

        def all_ended():
            return all(self.queue.fetch_job(job_id).get_status() in ended for job_id in job_ids)

        return bool(wait_for(all_ended, timeout, interval=0.1))

    def log(self, index=0):
        return (self.log_dir / f"worker-{index}.log").read_text(errors="replace")

    def kill(self, process):
        """SIGKILL a worker and its work horse, which RQ runs in a process group of its own."""
        for pid in child_pids(process.pid):
            os.kill(pid, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)


def child_pids(pid):
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


@pytest.fixture
def workers(tmp_path, fetch_queue):
    pool = Workers(tmp_path, fetch_queue)
    yield pool
    pool.stop_all()


def wait_for(predicate, timeout, interval=0.05):
    """Poll `predicate` until it returns a true value; return that value or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
