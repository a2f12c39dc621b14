"""Geometry of the fetch-run chart that the admin renders as inline SVG.

The chart has one bar per run for the articles it created and a line for how
long it took, each scaled to its own maximum, oldest run on the left.
"""

from dataclasses import dataclass

from news.models import FetchRun

RUN_COUNT = 30
WIDTH = 600
HEIGHT = 160
# Room below the plot for the first and last run numbers, and on the left
# for the article scale.
MARGIN_LEFT = 40
MARGIN_BOTTOM = 20
MARGIN_TOP = 10
BAR_GAP = 2


@dataclass(frozen=True)
class Bar:
    run_id: int
    x: float
    y: float
    width: float
    height: float
    articles_created: int
    duration_seconds: float | None
    status: str


@dataclass(frozen=True)
class RunChart:
    bars: list
    duration_points: str
    max_articles: int
    max_duration_seconds: float
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = MARGIN_LEFT
    plot_top: int = MARGIN_TOP
    plot_bottom: int = HEIGHT - MARGIN_BOTTOM


def recent_runs(count=RUN_COUNT):
    """Return the last `count` runs, oldest first, with only the fields the chart reads."""
    runs = FetchRun.objects.only(
        "id", "status", "articles_created", "started_at", "finished_at", "created_at"
    ).order_by("-created_at", "-id")[:count]
    return list(reversed(runs))


def build_run_chart(runs):
    """Return a RunChart for `runs` (oldest first), or None when there are none."""
    if not runs:
        return None
    plot_width = WIDTH - MARGIN_LEFT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_width / len(runs)
    durations = [_seconds(run.duration) for run in runs]
    max_articles = max(run.articles_created for run in runs)
    max_duration = max((seconds for seconds in durations if seconds is not None), default=0.0)

    bars = []
    points = []
    for index, (run, seconds) in enumerate(zip(runs, durations)):
        height = _scaled(run.articles_created, max_articles, plot_height)
        x = MARGIN_LEFT + index * slot
        bars.append(
            Bar(
                run_id=run.pk,
                x=round(x + BAR_GAP / 2, 1),
                y=round(MARGIN_TOP + plot_height - height, 1),
                width=round(max(slot - BAR_GAP, 1), 1),
                height=round(height, 1),
                articles_created=run.articles_created,
                duration_seconds=seconds,
                status=run.status,
            )
        )
        if seconds is not None:
            point_y = MARGIN_TOP + plot_height - _scaled(seconds, max_duration, plot_height)
            points.append(f"{x + slot / 2:.1f},{point_y:.1f}")

    return RunChart(
        bars=bars,
        duration_points=" ".join(points),
        max_articles=max_articles,
        max_duration_seconds=round(max_duration, 1),
    )


def _scaled(value, maximum, span):
    if not maximum:
        return 0.0
    return span * value / maximum


def _seconds(duration):
    if duration is None:
        return None
    return round(duration.total_seconds(), 1)
