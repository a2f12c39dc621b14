import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from news import locking
from news.models import FetchRun
from news.sources import NO_ENABLED_SOURCES_MESSAGE
from tests.test_triggers import closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)

FETCH_NOW_URL = reverse("admin:news_fetchrun_fetch_now")
RELEASE_URL = reverse("admin:news_fetchrun_release_lock")
RUNS_URL = reverse("admin:news_fetchrun_changelist")
ARTICLES_URL = reverse("admin:news_article_changelist")


def message_texts(response):
    return [str(message) for message in response.context["messages"]]


def test_fetch_now_queues_run_and_shows_it(editor_client, editor, fetch_queue, make_source):
    make_source("https://news.example.tw/feed.xml")
    response = editor_client.post(FETCH_NOW_URL, {"next": ARTICLES_URL}, follow=True)
    run = FetchRun.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:news_fetchrun_change", args=[run.pk])
    assert (run.trigger, run.requested_by) == (FetchRun.Trigger.ADMIN, editor)
    assert fetch_queue.job_ids == [run.job_id]
    assert message_texts(response) == [
        f'<a href="/admin/news/fetchrun/{run.pk}/change/">抓取紀錄 #{run.pk}</a> 已排入佇列，可在它的頁面查看進度。'
    ]


def test_second_fetch_now_says_already_running(editor_client, fetch_queue):
    editor_client.post(FETCH_NOW_URL, follow=True)
    first = FetchRun.objects.get()
    response = editor_client.post(FETCH_NOW_URL, {"next": ARTICLES_URL}, follow=True)
    assert response.redirect_chain[-1][0] == ARTICLES_URL
    assert FetchRun.objects.count() == 1
    assert message_texts(response) == [
        f'已有抓取正在進行：<a href="/admin/news/fetchrun/{first.pk}/change/">抓取紀錄 #{first.pk}</a>。'
        "請等它結束後再試一次。"
    ]


def test_fetch_now_ignores_offsite_next(editor_client, fetch_queue):
    editor_client.post(FETCH_NOW_URL)
    response = editor_client.post(FETCH_NOW_URL, {"next": "https://evil.example/"})
    assert response["Location"] == RUNS_URL


def test_fetch_now_reports_unreachable_redis(editor_client, settings):
    unused_redis_url = closed_port_url()
    settings.RQ_QUEUES = {"default": {"URL": unused_redis_url, "DEFAULT_TIMEOUT": 60}}
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": unused_redis_url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = editor_client.post(FETCH_NOW_URL, follow=True)
    assert response.status_code == 200
    assert message_texts(response)[0].startswith("無法將抓取排入佇列：")
    assert "無法讀取抓取鎖" in response.content.decode()


def test_fetch_selected_sources_action(editor_client, make_source, fetch_queue):
    chosen = make_source("https://news.example.tw/a.xml", name="甲")
    make_source("https://news.example.tw/b.xml", name="乙")
    response = editor_client.post(
        reverse("admin:news_source_changelist"),
        {"action": "fetch_sources", "_selected_action": [chosen.pk]},
    )
    run = FetchRun.objects.get()
    assert response["Location"] == reverse("admin:news_fetchrun_change", args=[run.pk])
    assert list(run.requested_sources.all()) == [chosen]


def test_lock_panel_names_holder(editor_client, fetch_queue):
    editor_client.post(FETCH_NOW_URL)
    run = FetchRun.objects.get()
    html = editor_client.get(reverse("admin:news_fetchrun_change", args=[run.pk])).content.decode()
    assert f'由<a href="/admin/news/fetchrun/{run.pk}/change/">抓取紀錄 #{run.pk}</a> 自' in html
    assert "釋放失效的鎖" not in html


def test_lock_panel_says_free(editor_client, fetch_queue):
    assert "未被持有：目前沒有抓取在進行。" in editor_client.get(RUNS_URL).content.decode()


@pytest.fixture
def dead_run_holding_lock(settings, fetch_queue):
    """A queued run, never picked up, that still holds the lock but was last seen long ago."""
    long_ago = timezone.now() - datetime.timedelta(seconds=settings.NEWS_LOCK_TTL + 60)
    run = FetchRun.objects.create(trigger=FetchRun.Trigger.ADMIN, created_at=long_ago)
    locking.acquire(run.pk)
    return run


def test_superuser_releases_stale_lock(client, superuser, dead_run_holding_lock):
    client.force_login(superuser)
    page = client.get(RUNS_URL).content.decode()
    response = client.post(RELEASE_URL, follow=True)
    assert "釋放失效的鎖" in page
    assert message_texts(response) == [f"已釋放抓取紀錄 #{dead_run_holding_lock.pk} 的抓取鎖。"]
    assert locking.lock_holder() is None


def test_superuser_cannot_release_live_lock(client, superuser, fetch_queue):
    run = FetchRun.objects.create(trigger=FetchRun.Trigger.ADMIN)
    locking.acquire(run.pk)
    client.force_login(superuser)
    response = client.post(RELEASE_URL, follow=True)
    assert message_texts(response) == ["抓取鎖沒有被釋放：鎖目前是空的，或持有它的抓取仍在執行。"]
    assert locking.lock_holder().run_id == run.pk


def test_editor_cannot_release_lock(editor_client, dead_run_holding_lock):
    response = editor_client.post(RELEASE_URL)
    assert response.status_code == 403
    assert locking.lock_holder().run_id == dead_run_holding_lock.pk


def test_fetch_now_warns_without_enabled_sources(editor_client, fetch_queue):
    response = editor_client.post(FETCH_NOW_URL, follow=True)
    assert str(NO_ENABLED_SOURCES_MESSAGE) in message_texts(response)
