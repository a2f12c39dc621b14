"""Ingest benchmark: the fetch service against a naive baseline and the parsing floor.

    .venv/bin/python -m bench.ingest                    # 200 sources x 100 entries, SQLite
    .venv/bin/python -m bench.ingest --database sqlite \\
        --database postgres://postgres@127.0.0.1:5432/news_bench
    .venv/bin/python -m bench.ingest --quick            # 20 x 20, one round
    .venv/bin/python -m bench.ingest --phases           # time each phase of the service

Variants, alternated within each round:
  service  news.fetching create_run + run_fetch over every source.
  naive    Each source in turn with requests.get and feedparser.parse, then
           Article.objects.get_or_create and article.sources.add per entry.
  floor    feedparser.parse over the same bytes in memory, with no network
           and no database.
Each variant runs in its own process on a fresh database. A PostgreSQL
database given with --database is dropped and created again for each run.
"""

import datetime
import hashlib
import statistics
import time
from dataclasses import dataclass

from bench.corpus import Corpus, CorpusServer
from bench.harness import (
    QueryCounter,
    create_sources,
    load_average,
    machine_description,
    parse_arguments,
    peak_memory_mb,
    print_table,
    reset_peak_memory,
    run_in_child,
    setup_django,
    spread,
)

VARIANTS = ("service", "naive", "floor")


@dataclass
class Measurement:
    seconds: float
    # CPU time of the measuring process alone: the database server and the
    # feed server are other processes. Less sensitive to other load than
    # wall time on a shared machine.
    cpu_seconds: float
    items: int
    queries: int
    peak_mb: float
    sources: int

    @property
    def per_second(self):
        return self.items / self.seconds

    @property
    def queries_per_source(self):
        return self.queries / self.sources


def measure_service(environment, urls):
    """Fetch every source with the project's fetch service."""
    setup_django(environment)
    from news.fetching import create_run, run_fetch
    from news.models import Article, FetchRun

    create_sources(urls)
    counter = QueryCounter()
    reset_peak_memory()
    with counter.installed():
        started, cpu_started = time.perf_counter(), time.process_time()
        run = run_fetch(create_run(FetchRun.Trigger.COMMAND))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if run.sources_failed:
        raise RuntimeError(f"run {run.pk}: {run.sources_failed} of {run.sources_total} sources failed")
    return Measurement(
        seconds, cpu_seconds, Article.objects.count(), counter.count, peak_memory_mb(), len(urls)
    )


def measure_naive(environment, urls):
    """Fetch each source in turn and store each entry with get_or_create."""
    setup_django(environment)
    import feedparser
    import requests
    from news.models import Article

    sources = create_sources(urls)
    counter = QueryCounter()
    reset_peak_memory()
    with counter.installed():
        started, cpu_started = time.perf_counter(), time.process_time()
        for source in sources:
            response = requests.get(source.url, timeout=10)
            response.raise_for_status()
            for entry in feedparser.parse(response.content).entries:
                article, _ = Article.objects.get_or_create(
                    identity=hashlib.sha256(entry.id.encode()).hexdigest(),
                    defaults={
                        "guid": entry.id,
                        "title": entry.title,
                        "link": entry.link,
                        "summary": entry.get("summary", ""),
                        "publisher_name": entry.get("source", {}).get("title", ""),
                        "published_at": datetime.datetime(
                            *entry.published_parsed[:6], tzinfo=datetime.timezone.utc
                        ),
                    },
                )
                article.sources.add(source)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return Measurement(
        seconds, cpu_seconds, Article.objects.count(), counter.count, peak_memory_mb(), len(urls)
    )


def measure_floor(sources, entries):
    """Parse the same feed bytes with feedparser, in memory."""
    import feedparser

    corpus = Corpus(sources, entries)
    bodies = [corpus.body(index) for index in range(sources)]
    reset_peak_memory()
    started, cpu_started = time.perf_counter(), time.process_time()
    parsed = 0
    for body in bodies:
        parsed += len(feedparser.parse(body).entries)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return Measurement(seconds, cpu_seconds, parsed, 0, peak_memory_mb(), sources)


# Functions timed by --phases, as (module, attribute, label). The fetch
# service calls them through these module attributes, so replacing the
# attribute in the child process times every call.
PHASES = [
    ("news.fetching", "download", "download"),
    ("news.fetching", "parse_feed", "parse_feed"),
    ("feedparser", "parse", "  feedparser.parse"),
    ("news.parsing", "normalize_entry", "  normalize_entry"),
    ("news.fetching", "store_entries", "store_entries"),
    ("news.storage", "_existing_articles", "  _existing_articles"),
    ("news.storage", "_insert", "  _insert"),
    ("news.storage", "_link_to_source", "  _link_to_source"),
    ("news.fetching", "_record_outcome", "_record_outcome"),
]


def measure_phases(environment, urls):
    """Fetch every source with the fetch service and return seconds per phase."""
    setup_django(environment)
    import importlib

    from django.db import connection
    from news.fetching import create_run, run_fetch
    from news.models import FetchRun

    totals = {"run_fetch": 0.0}
    for module_name, attribute, label in PHASES:
        module = importlib.import_module(module_name)
        if hasattr(module, attribute):
            totals[label] = 0.0
            setattr(module, attribute, _timed(getattr(module, attribute), totals, label))

    # Time inside the database driver, summed over every phase above.
    totals["SQL statements"] = 0.0

    def time_statement(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            totals["SQL statements"] += time.perf_counter() - started

    create_sources(urls)
    started = time.perf_counter()
    with connection.execute_wrapper(time_statement):
        run_fetch(create_run(FetchRun.Trigger.COMMAND))
    totals["run_fetch"] = time.perf_counter() - started
    return totals


def _timed(function, totals, label):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - started

    return timed


def report_phases(database, rounds):
    print(f"## {database.label}: where the fetch service spends its time, {len(rounds)} rounds\n")
    rows = []
    for label in rounds[0]:
        seconds = [phases[label] for phases in rounds]
        share = statistics.median(phases[label] / phases["run_fetch"] * 100 for phases in rounds)
        rows.append([label, spread(seconds), f"{share:.0f}%"])
    print_table(["phase", "wall s", "share of run_fetch"], rows)


def run_variant(variant, database, server):
    corpus = server.corpus
    if variant == "floor":
        return run_in_child(measure_floor, corpus.sources, corpus.entries)
    function = measure_service if variant == "service" else measure_naive
    with database.fresh() as environment:
        return run_in_child(function, environment, server.feed_urls())


def measure_query_scaling(database, server, entry_counts):
    """Return {entries: queries per source} for the fetch service."""
    count = min(server.corpus.sources, 20)
    scaling = {}
    for entries in entry_counts:
        with database.fresh() as environment:
            measurement = run_in_child(measure_service, environment, server.feed_urls(count, entries))
        scaling[entries] = measurement.queries_per_source
    return scaling


def report(database, corpus, results, scaling):
    print(f"## {database.label}: {corpus.sources} sources x {corpus.entries} entries, "
          f"{len(results['service'])} rounds\n")
    rows = []
    for variant in VARIANTS:
        measurements = results[variant]
        rows.append([
            variant,
            spread([m.seconds for m in measurements]),
            spread([m.cpu_seconds for m in measurements]),
            spread([m.per_second for m in measurements]),
            spread([m.peak_mb for m in measurements]),
            spread([m.queries_per_source for m in measurements]),
            measurements[0].items,
        ])
    print_table(
        ["variant", "wall s", "CPU s", "articles/s", "peak RSS MiB", "queries/source", "articles"], rows
    )

    # Ratios are taken within each round, whose variants ran back to back, so
    # a change in the machine's load between rounds cancels out.
    rounds = list(zip(results["service"], results["naive"], results["floor"]))
    speedups = [naive.seconds / service.seconds for service, naive, _ in rounds]
    floor_ratios = [service.seconds / floor.seconds for service, _, floor in rounds]
    speedup = statistics.median(speedups)
    floor_ratio = statistics.median(floor_ratios)
    peak = max(m.peak_mb for variant in VARIANTS for m in results[variant])
    flat = len(set(round(value, 2) for value in scaling.values())) == 1
    print_table(
        ["target", "measured", "met"],
        [
            ["service >= 5x naive articles/s", spread(speedups) + "x", _yes(speedup >= 5)],
            ["service <= 1.5x floor wall time", spread(floor_ratios) + "x", _yes(floor_ratio <= 1.5)],
            ["queries/source independent of entries",
             ", ".join(f"{entries} entries: {value:.2f}" for entries, value in scaling.items()),
             _yes(flat)],
            ["peak RSS < 300 MiB", f"{peak:.0f} MiB", _yes(peak < 300)],
        ],
    )


def _yes(condition):
    return "yes" if condition else "NO"


def main():
    args = parse_arguments(
        __doc__.split("\n\n")[0],
        "runs of each variant (default 3)",
        [("--phases", "time the phases of the fetch service instead of comparing variants")],
    )
    corpus = Corpus(args.sources, args.entries)
    entry_counts = sorted({1, 10, args.entries})
    print(f"Machine: {machine_description()}\n")
    with CorpusServer(corpus) as server:
        for database in args.databases:
            if args.phases:
                rounds = []
                for _ in range(args.rounds):
                    with database.fresh() as environment:
                        rounds.append(run_in_child(measure_phases, environment, server.feed_urls()))
                report_phases(database, rounds)
                continue
            results = {variant: [] for variant in VARIANTS}
            for round_number in range(args.rounds):
                shift = round_number % len(VARIANTS)
                for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                    results[variant].append(run_variant(variant, database, server))
            scaling = measure_query_scaling(database, server, entry_counts)
            report(database, corpus, results, scaling)
    print(f"Finished, {load_average()}")


if __name__ == "__main__":
    main()
