import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from news import locking
from news.models import Article, FetchRun
from news.triggers import job_id_for, start_fetch
from tests.feedserver import item, rss

pytestmark = pytest.mark.django_db(transaction=True)


def test_fetch_news_exits_3_while_run_is_active(fetch_queue):
    active = start_fetch(FetchRun.Trigger.HTTP)
    with pytest.raises(CommandError, match=f"#{active.pk}") as raised:
        call_command("fetch_news")
    assert raised.value.returncode == 3
    assert FetchRun.objects.count() == 1


def test_fetch_news_fetches_under_lock(fetch_queue, feed_server, make_source, capsys):
    make_source(feed_server.add("/news.xml", rss(item("c1", "命令列抓取"))), name="命令")
    call_command("fetch_news")
    run = FetchRun.objects.get()
    assert run.status == FetchRun.Status.SUCCEEDED
    assert run.worker_name.startswith("fetch_news pid ")
    assert Article.objects.count() == 1
    assert locking.lock_holder() is None


def test_fetch_news_enqueue_prints_run_id(fetch_queue, capsys):
    call_command("fetch_news", "--enqueue")
    run = FetchRun.objects.get()
    assert f"#{run.pk}" in capsys.readouterr().out
    assert run.status == FetchRun.Status.QUEUED
    assert fetch_queue.job_ids == [job_id_for(run.pk)]
