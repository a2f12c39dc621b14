"""Shared parts of the benchmark scripts: databases, child processes, counters, tables.

Each measured variant runs in its own child process (spawned, so it starts
from a clean interpreter) against a fresh database, which keeps the peak
memory and the query count of one variant out of the next one's numbers.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent

# Settings for the child processes. DEBUG stays off so Django does not keep
# every query in memory. The corpus server listens on 127.0.0.1, a private
# address. Resolving Google News links would contact news.google.com, so it
# stays off even where the setting exists. Nothing here reaches Redis, but
# REDIS_URL is set so that no code path starts the embedded redis-server.
CHILD_ENVIRONMENT = {
    "DJANGO_SETTINGS_MODULE": "newsproject.settings",
    "DJANGO_SECRET_KEY": "benchmark-only-secret-key",
    "DJANGO_DEBUG": "0",
    "NEWS_ALLOW_PRIVATE_ADDRESSES": "1",
    "NEWS_RESOLVE_GOOGLE_LINKS": "0",
    "NEWS_LOG_LEVEL": "WARNING",
}
PROTECTED_DATABASES = {"postgres", "template0", "template1"}


class Database:
    """The database a benchmark runs on: "sqlite" or a PostgreSQL URL.

    A PostgreSQL database named in the URL is dropped and created again for
    every child process, and dropped at the end, so give it a name that
    nothing else uses.
    """

    def __init__(self, spec, redis_url):
        self.spec = spec
        self.redis_url = redis_url
        if spec == "sqlite":
            self.label = "SQLite"
            return
        parts = urlsplit(spec)
        self.name = parts.path.lstrip("/")
        if parts.scheme not in ("postgres", "postgresql") or not self.name:
            raise SystemExit(f"Invalid --database {spec!r}. Give sqlite or postgres://user@host:port/name.")
        if self.name in PROTECTED_DATABASES:
            raise SystemExit(
                f"Rejected --database {spec!r}: the benchmark drops its database, so name one of your own."
            )
        self.label = "PostgreSQL"
        self.maintenance_url = parts._replace(path="/postgres").geturl()

    @contextmanager
    def fresh(self):
        """Yield the child environment for a new, empty database, and drop the database afterwards."""
        with tempfile.TemporaryDirectory(prefix="news-bench-") as var_dir:
            environment = {**CHILD_ENVIRONMENT, "NEWS_VAR_DIR": var_dir, "REDIS_URL": self.redis_url}
            if self.spec == "sqlite":
                yield {**environment, "DATABASE_URL": ""}
                return
            self._recreate()
            try:
                yield {**environment, "DATABASE_URL": self.spec}
            finally:
                self._drop()

    def _execute(self, sql):
        import psycopg
        from psycopg import sql as pgsql

        with psycopg.connect(self.maintenance_url, autocommit=True) as connection:
            connection.execute(pgsql.SQL(sql).format(pgsql.Identifier(self.name)))

    def _recreate(self):
        self._drop()
        self._execute("CREATE DATABASE {}")

    def _drop(self):
        self._execute("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def run_in_child(function, *args):
    """Run function(*args) in a new spawned process and return its result.

    The executor waits for the child to exit, so no process is left behind.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def setup_django(environment):
    """Configure Django in a child process from `environment` and migrate its database."""
    os.environ.update(environment)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def create_sources(urls):
    """Create one enabled feed Source per URL and return them in name order."""
    from news.models import Source

    Source.objects.bulk_create(
        Source(name=f"基準來源 {number:05d}", url=url, kind=Source.Kind.FEED)
        for number, url in enumerate(urls)
    )
    return list(Source.objects.order_by("name"))


class QueryCounter:
    """Count the SQL statements run on every database connection while installed.

    The wrapper is added to the connections that exist and to each one opened
    later (in any thread), so a fetch that uses a thread pool is counted too.
    """

    def __init__(self):
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)

    @contextmanager
    def installed(self):
        from django.db import connections
        from django.db.backends.signals import connection_created

        def attach(sender, connection, **kwargs):
            if self not in connection.execute_wrappers:
                connection.execute_wrappers.append(self)

        for connection in connections.all(initialized_only=True):
            attach(None, connection)
        connection_created.connect(attach, weak=False)
        try:
            yield self
        finally:
            connection_created.disconnect(attach)
            for connection in connections.all(initialized_only=True):
                if self in connection.execute_wrappers:
                    connection.execute_wrappers.remove(self)


def reset_peak_memory():
    """Reset the peak resident size of this process to its current size.

    Writing 5 to /proc/self/clear_refs does this on Linux 4.0 and later (proc(5)).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mb():
    """Read the peak resident size of this process in MiB since the last reset.

    Reads VmHWM from /proc/self/status; without /proc it falls back to
    ru_maxrss, the peak since the process started.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spread(values):
    """Return "median (min-max)" of a list of numbers, to show the noise."""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def print_table(headers, rows):
    """Print a Markdown table with columns padded to their widest cell."""
    cells = [headers] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]

    def line(row):
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    print()


def machine_description():
    """Return the CPU count, total memory and load average of this machine."""
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB memory"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs{memory}, Python {sys.version.split()[0]}, {load_average()}"


def load_average():
    """Return the 1, 5 and 15 minute load averages as text, to show how busy the machine was."""
    return "load average " + ", ".join(f"{value:.1f}" for value in os.getloadavg())


def parse_arguments(description, rounds_help, extra_flags=()):
    """Parse the options of a benchmark script. --quick sets 20 x 20 and one round.

    `extra_flags` lists (flag, help) pairs of more boolean options.
    """
    parser = argparse.ArgumentParser(description=description)
    for flag, help_text in extra_flags:
        parser.add_argument(flag, action="store_true", help=help_text)
    parser.add_argument("--sources", type=int, default=200, help="number of feeds (default 200)")
    parser.add_argument("--entries", type=int, default=100, help="entries per feed (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help=rounds_help)
    add_database_arguments(parser, "REDIS_URL for the child processes; a fetch does not use Redis")
    parser.add_argument("--quick", action="store_true", help="20 sources x 20 entries, one round")
    args = parser.parse_args()
    if args.quick:
        args.sources, args.entries, args.rounds = 20, 20, 1
    args.databases = [Database(spec, args.redis_url) for spec in args.database or ["sqlite"]]
    return args


def add_database_arguments(parser, redis_help):
    """Add --database (repeatable, default sqlite) and --redis-url to `parser`."""
    parser.add_argument(
        "--database",
        action="append",
        help='"sqlite" or a PostgreSQL URL whose database the benchmark may drop and create; '
        "repeat for both (default sqlite)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4", help=redis_help)
