import datetime

from django.utils import timezone

from news.charts import HEIGHT, MARGIN_BOTTOM, MARGIN_TOP, build_run_chart, recent_runs
from news.models import FetchRun

PLOT_BOTTOM = HEIGHT - MARGIN_BOTTOM


def make_run(created, seconds=None, minutes_ago=0):
    started = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return FetchRun.objects.create(
        trigger=FetchRun.Trigger.SCHEDULE,
        status=FetchRun.Status.SUCCEEDED,
        created_at=started,
        started_at=started,
        finished_at=started + datetime.timedelta(seconds=seconds) if seconds is not None else None,
        articles_created=created,
    )


def test_chart_is_none_without_runs(db):
    assert build_run_chart(recent_runs()) is None


def test_chart_scales_bars_to_largest_run(db):
    make_run(5, seconds=2, minutes_ago=2)
    make_run(10, seconds=4, minutes_ago=1)
    chart = build_run_chart(recent_runs())
    small, large = chart.bars
    assert large.y == MARGIN_TOP
    assert small.height == large.height / 2
    assert small.y + small.height == PLOT_BOTTOM


def test_chart_orders_oldest_first_and_keeps_30(db):
    runs = [make_run(number, minutes_ago=40 - number) for number in range(32)]
    chart = build_run_chart(recent_runs())
    assert len(chart.bars) == 30
    assert [bar.run_id for bar in chart.bars] == [run.pk for run in runs[2:]]


def test_chart_line_skips_runs_without_duration(db):
    make_run(3, seconds=None, minutes_ago=2)
    make_run(3, seconds=8, minutes_ago=1)
    chart = build_run_chart(recent_runs())
    assert len(chart.duration_points.split()) == 1
    assert chart.max_duration_seconds == 8.0


def test_chart_of_empty_runs_draws_flat_bars(db):
    make_run(0, seconds=0)
    chart = build_run_chart(recent_runs())
    assert chart.bars[0].height == 0
    assert chart.max_articles == 0
