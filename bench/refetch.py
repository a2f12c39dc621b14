"""Re-fetch benchmark: what a second and a third run over the same feeds cost.

    .venv/bin/python -m bench.refetch                   # 200 sources x 100 entries, SQLite
    .venv/bin/python -m bench.refetch --database sqlite \\
        --database postgres://postgres@127.0.0.1:5432/news_bench
    .venv/bin/python -m bench.refetch --quick           # 20 x 20, one round

Each round runs the fetch service three times on a fresh database. The first
run stores everything. The second runs over unchanged feeds, so the server
returns 304 to every conditional GET the service sends. The third runs
after 10% of the feeds published new entries and edited a few titles.
The third run must create exactly the new entries and update exactly the
edited ones. A PostgreSQL database given with --database is dropped and
created again for each round.
"""

import statistics
import time
from dataclasses import dataclass

import requests

from bench.corpus import EDITED_MARK, Corpus, CorpusServer
from bench.harness import (
    create_sources,
    load_average,
    machine_description,
    parse_arguments,
    print_table,
    run_in_child,
    setup_django,
    spread,
)


@dataclass
class RunResult:
    seconds: float
    created: int
    updated: int
    unchanged_sources: int


@dataclass
class RoundResult:
    runs: list
    expected_created: int
    expected_updated: int
    edited_titles_stored: int
    articles: int


def measure_round(environment, urls, base_url, sources, entries):
    """Run the fetch service three times, changing 10% of the feeds before the third."""
    setup_django(environment)
    from news.models import Article, SourceResult

    corpus = Corpus(sources, entries)
    create_sources(urls)
    runs = [_timed_run(SourceResult), _timed_run(SourceResult)]

    changed = corpus.changed_feeds()
    response = requests.post(f"{base_url}/versions", data=" ".join(map(str, changed)), timeout=10)
    response.raise_for_status()
    runs.append(_timed_run(SourceResult))

    return RoundResult(
        runs=runs,
        expected_created=len(changed) * corpus.new_per_change,
        expected_updated=len(changed) * corpus.edits_per_change,
        edited_titles_stored=Article.objects.filter(title__endswith=EDITED_MARK).count(),
        articles=Article.objects.count(),
    )


def _timed_run(result_model):
    from news.fetching import create_run, run_fetch
    from news.models import FetchRun

    started = time.perf_counter()
    run = run_fetch(create_run(FetchRun.Trigger.COMMAND))
    seconds = time.perf_counter() - started
    if run.sources_failed:
        raise RuntimeError(f"run {run.pk}: {run.sources_failed} of {run.sources_total} sources failed")
    unchanged = run.results.filter(status=result_model.Status.UNCHANGED).count()
    return RunResult(seconds, run.articles_created, run.articles_updated, unchanged)


def report(database, corpus, rounds):
    print(f"## {database.label}: {corpus.sources} sources x {corpus.entries} entries, "
          f"{len(rounds)} rounds\n")
    labels = ["1: first fetch", "2: nothing changed", "3: 10% of feeds changed"]
    rows = []
    for number, label in enumerate(labels):
        runs = [round_result.runs[number] for round_result in rounds]
        rows.append([
            label,
            spread([run.seconds for run in runs]),
            spread([run.seconds / r.runs[0].seconds * 100 for run, r in zip(runs, rounds)]),
            runs[0].unchanged_sources,
            runs[0].created,
            runs[0].updated,
        ])
    print_table(["run", "wall s", "% of run 1", "sources 304", "created", "updated"], rows)

    second_share = statistics.median(r.runs[1].seconds / r.runs[0].seconds for r in rounds)
    third_exact = all(
        (r.runs[2].created, r.runs[2].updated) == (r.expected_created, r.expected_updated)
        and r.edited_titles_stored == r.expected_updated
        and r.articles == corpus.sources * corpus.entries + r.expected_created
        for r in rounds
    )
    expected = rounds[0]
    print_table(
        ["target", "measured", "met"],
        [
            ["run 2 <= 10% of run 1 wall time", f"{second_share * 100:.1f}%",
             "yes" if second_share <= 0.10 else "NO"],
            ["run 3 stores exactly the changed entries",
             f"created {expected.runs[2].created} of {expected.expected_created} new, "
             f"updated {expected.runs[2].updated} of {expected.expected_updated} edited, "
             f"{expected.articles} articles",
             "yes" if third_exact else "NO"],
        ],
    )


def main():
    args = parse_arguments(__doc__.split("\n\n")[0], "rounds of three runs (default 3)")
    corpus = Corpus(args.sources, args.entries)
    print(f"Machine: {machine_description()}\n")
    for database in args.databases:
        rounds = []
        for _ in range(args.rounds):
            # A new server per round starts every feed at version 0 again.
            with CorpusServer(corpus) as server, database.fresh() as environment:
                rounds.append(run_in_child(
                    measure_round, environment, server.feed_urls(), server.base_url,
                    corpus.sources, corpus.entries,
                ))
        report(database, corpus, rounds)
    print(f"Finished, {load_average()}")


if __name__ == "__main__":
    main()
