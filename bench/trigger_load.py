"""Trigger under load: the HTTP trigger and the article API while a fetch runs.

    .venv/bin/python -m bench.trigger_load              # SQLite, 64 clients, 20 s
    .venv/bin/python -m bench.trigger_load --database sqlite \\
        --database postgres://postgres@127.0.0.1:5432/news_bench
    .venv/bin/python -m bench.trigger_load --quick      # 8 clients, 3 s

The project runs under gunicorn with a real RQ worker and Redis. Its only
source is a feed that stalls until the load ends, so the one run it starts
stays active throughout. Half the clients POST /api/fetch-runs/ with the
token and half GET /api/articles/, each sending its next request as soon as
the last one returns. The queued variant must create exactly one run and
respond fast on both endpoints. The blocking variant runs the same load against
a view that fetches inside the request, which shows what the queue avoids.
Every process started here is stopped before the script ends.
"""

import argparse
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis

from bench.corpus import Corpus, CorpusServer
from bench.harness import (
    ROOT,
    Database,
    add_database_arguments,
    load_average,
    machine_description,
    print_table,
    run_in_child,
    setup_django,
)

ARTICLES_PATH = "/api/articles/"
TRIGGER_PATH = "/api/fetch-runs/"
BLOCKING_PATH = "/bench/blocking-fetch/"
# Seconds a client waits for one response. A blocked request counts as a
# timeout after this.
CLIENT_TIMEOUT = 10
START_TIMEOUT = 30
STOP_TIMEOUT = 30


def prepare_database(environment, stalled_url, article_count):
    """Migrate, add the stalled source and store `article_count` articles to list."""
    setup_django(environment)
    from django.utils import timezone

    from news.models import Article, Source

    Source.objects.create(name="停滯的來源", url=stalled_url, kind=Source.Kind.FEED)
    corpus = Corpus(sources=1, entries=article_count)
    now = timezone.now()
    Article.objects.bulk_create(
        Article(
            identity=f"{number:064d}",
            guid=f"trigger-load-{number}",
            title=corpus.title(0, number),
            link=f"https://news.example.com/{number}",
            publisher_name="中央社",
            first_seen_at=now,
            last_seen_at=now,
        )
        for number in range(article_count)
    )


def count_runs(environment):
    """Return {status: count} of the fetch runs in the database."""
    setup_django(environment)
    from news.models import FetchRun

    return Counter(FetchRun.objects.values_list("status", flat=True))


class Process:
    """A server process started here, in its own session, and stopped by its pid.

    Its output goes to a file, not a pipe: Django logs every 409 as a
    warning, and a full pipe would stall the server being measured.
    """

    def __init__(self, name, command, environment, pass_fds=()):
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **environment},
            pass_fds=pass_fds,
            start_new_session=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self):
        """Send SIGTERM, wait STOP_TIMEOUT seconds, then SIGKILL, and return the exit status."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"{self.name} (pid {self.popen.pid}) ignored SIGTERM for {STOP_TIMEOUT} s; killing it")
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        return self.popen.returncode

    def error_output(self):
        """Return the last 2,000 characters the process wrote."""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-2000:]


@contextmanager
def project_servers(environment, workers):
    """Start gunicorn on a free 127.0.0.1 port and one RQ worker; yield the port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    python = sys.executable
    web = Process(
        "gunicorn",
        [python, "-m", "gunicorn", "newsproject.wsgi:application",
         "--bind", f"fd://{listener.fileno()}", "--workers", str(workers),
         "--timeout", "120", "--log-level", "warning"],
        environment,
        pass_fds=(listener.fileno(),),
    )
    worker = Process("rqworker", [python, "manage.py", "rqworker", "default"], environment)
    try:
        _wait_until_serving(port, web)
        yield port
    finally:
        worker_status = worker.stop()
        web_status = web.stop()
        listener.close()
        for process, status in ((worker, worker_status), (web, web_status)):
            if status not in (0, -signal.SIGTERM):
                print(f"{process.name} exited with status {status}:\n{process.error_output()}")


def _wait_until_serving(port, web):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if web.popen.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {web.popen.returncode}:\n{web.error_output()}")
        try:
            status, _ = request(port, "GET", ARTICLES_PATH, {})
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve {ARTICLES_PATH} within {START_TIMEOUT} s")


def request(port, method, path, headers):
    """Send one request on a new connection; return (status, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def generate_load(port, clients, seconds, post_path, token):
    """Run `clients` closed-loop clients for `seconds`; return {path: [(status, seconds)]}."""
    samples = {post_path: [], ARTICLES_PATH: []}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(method, path, headers):
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                sample = request(port, method, path, headers)
            except TimeoutError:
                sample = ("timeout", time.perf_counter() - started)
            except OSError as exc:
                sample = (exc.__class__.__name__, time.perf_counter() - started)
            with lock:
                samples[path].append(sample)

    post_headers = {"Authorization": f"Bearer {token}", "Content-Length": "0"}
    threads = [
        threading.Thread(
            target=client,
            args=("POST", post_path, post_headers) if number % 2 == 0 else ("GET", ARTICLES_PATH, {}),
            daemon=True,
        )
        for number in range(clients)
    ]
    for thread in threads:
        thread.start()
    return threads, samples


def run_variant(database, variant, args):
    """Serve the project, run the load, stop everything and return the measurements."""
    token = secrets.token_urlsafe(32)
    post_path = TRIGGER_PATH if variant == "queued" else BLOCKING_PATH
    settings_module = "newsproject.settings" if variant == "queued" else "bench.blocking_settings"
    redis_connection = redis.Redis.from_url(args.redis_url)
    redis_connection.flushdb()

    with CorpusServer(Corpus(1, 1), stall_seconds=args.seconds + 60) as feeds, \
            database.fresh() as environment:
        environment = {
            **environment,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "NEWS_TRIGGER_TOKEN": token,
            # The stalled feed must outlast the load, not time out first.
            "NEWS_READ_TIMEOUT": str(args.seconds + 60),
            "NEWS_FETCH_DEADLINE": str(args.seconds + 60),
        }
        run_in_child(prepare_database, environment, f"{feeds.base_url}/stalled", args.articles)
        with project_servers(environment, args.workers) as port:
            threads, samples = generate_load(port, args.clients, args.seconds, post_path, token)
            time.sleep(args.seconds)
            if variant == "queued":
                # A POST that arrives after the run ended would start a second
                # run, so the feed stays stalled until every client stopped.
                _join(threads)
            # Let the stalled fetches end, so blocked requests and the job finish.
            feeds.release_stalled()
            _join(threads)
        runs = run_in_child(count_runs, environment)
    redis_connection.flushdb()
    return samples, runs


def _join(threads):
    for thread in threads:
        thread.join(CLIENT_TIMEOUT + 5)


def completed_latencies(results):
    """Return the sorted latencies of the requests that got an HTTP status."""
    return sorted(latency for status, latency in results if isinstance(status, int))


def p99_of(latencies):
    """Return the 99th percentile (nearest rank) of sorted `latencies`, or infinity when empty."""
    if not latencies:
        return float("inf")
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def summarize(samples, seconds):
    """Return the table rows for each endpoint: rate, latency percentiles and statuses."""
    rows = []
    for path, results in samples.items():
        answered = completed_latencies(results)
        statuses = Counter(str(status) for status, _ in results)
        if answered:
            p50 = statistics.median(answered) * 1000
            p99 = p99_of(answered) * 1000
            maximum = answered[-1] * 1000
            latency = [f"{p50:.1f}", f"{p99:.1f}", f"{maximum:.1f}"]
        else:
            latency = ["-", "-", "-"]
        rate = len(answered) / seconds
        status_text = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        rows.append([path, f"{rate:.1f}", *latency, status_text])
    return rows


def report(database, variant, samples, runs, args):
    print(f"## {database.label}, {variant}: {args.clients} clients for {args.seconds} s, "
          f"{args.workers} gunicorn workers\n")
    print_table(
        ["endpoint", "requests/s", "p50 ms", "p99 ms", "max ms", "status counts"],
        summarize(samples, args.seconds),
    )
    created = sum(runs.values())
    run_text = ", ".join(f"{status}: {count}" for status, count in sorted(runs.items()))
    if variant != "queued":
        print(f"Runs created: {created} ({run_text})\n")
        return
    p99s = [p99_of(completed_latencies(results)) for results in samples.values()]
    server_errors = sum(
        1 for results in samples.values() for status, _ in results
        if not isinstance(status, int) or status >= 500
    )
    print_table(
        ["target", "measured", "met"],
        [
            ["p99 < 50 ms on both endpoints", ", ".join(f"{value * 1000:.1f} ms" for value in p99s),
             "yes" if max(p99s) < 0.05 else "NO"],
            ["no 5xx and no failed request", str(server_errors), "yes" if server_errors == 0 else "NO"],
            ["exactly one run created", f"{created} ({run_text})", "yes" if created == 1 else "NO"],
        ],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--seconds", type=int, default=20, help="length of the load (default 20)")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1,
                        help="gunicorn sync workers (default 2 x CPUs + 1)")
    parser.add_argument("--articles", type=int, default=2000, help="articles stored for the API (default 2000)")
    add_database_arguments(
        parser, "Redis database for the lock and the queue; it is flushed before and after each variant"
    )
    parser.add_argument("--quick", action="store_true", help="8 clients for 3 s")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 8, 3
    redis_parts = urlsplit(args.redis_url)
    if redis_parts.path.strip("/") in ("", "0"):
        raise SystemExit("Give --redis-url with a database number of your own: it is flushed.")

    print(f"Machine: {machine_description()}\n")
    for spec in args.database or ["sqlite"]:
        database = Database(spec, args.redis_url)
        for variant in ("queued", "blocking"):
            samples, runs = run_variant(database, variant, args)
            report(database, variant, samples, runs, args)
    print(f"Finished, {load_average()}")


if __name__ == "__main__":
    main()
