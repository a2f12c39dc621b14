import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from news import locking
from news.models import ErrorCode, FetchRun, SourceResult

RUNS_URL = reverse("admin:news_fetchrun_changelist")
ARTICLES_URL = reverse("admin:news_article_changelist")


def finished_run(created=3, seconds=12, status=FetchRun.Status.SUCCEEDED, **fields):
    started = timezone.now() - datetime.timedelta(minutes=5)
    return FetchRun.objects.create(
        trigger=FetchRun.Trigger.ADMIN,
        status=status,
        started_at=started,
        finished_at=started + datetime.timedelta(seconds=seconds),
        articles_created=created,
        sources_total=2,
        sources_succeeded=2,
        **fields,
    )


def test_run_list_shows_coloured_status_and_duration(editor_client):
    finished_run(status=FetchRun.Status.PARTIALLY_FAILED, seconds=75)
    html = editor_client.get(RUNS_URL).content.decode()
    assert '<span class="news-status news-status-partially_failed">部分失敗</span>' in html
    assert "1 分 15 秒" in html


def test_run_list_shows_fetch_now_to_permitted_user(editor_client):
    html = editor_client.get(RUNS_URL).content.decode()
    assert "立即抓取" in html


def test_run_list_hides_fetch_now_without_permission(client, reader):
    client.force_login(reader)
    assert "立即抓取" not in client.get(RUNS_URL).content.decode()


def test_fetch_now_rejects_user_without_permission(client, reader):
    client.force_login(reader)
    response = client.post(reverse("admin:news_fetchrun_fetch_now"))
    assert response.status_code == 403
    assert not FetchRun.objects.exists()


def test_fetch_now_rejects_get(editor_client):
    assert editor_client.get(reverse("admin:news_fetchrun_fetch_now")).status_code == 405


def test_run_list_draws_svg_chart(editor_client):
    for number in range(32):
        finished_run(created=number)
    html = editor_client.get(RUNS_URL).content.decode()
    assert html.count('<rect class="bar') == 30
    assert "<polyline" in html
    assert "<script" not in html.split('<figure class="news-chart">')[1].split("</figure>")[0]


def test_active_run_page_reloads_itself_with_progress(editor_client):
    run = FetchRun.objects.create(
        trigger=FetchRun.Trigger.ADMIN, status=FetchRun.Status.RUNNING,
        started_at=timezone.now(), sources_total=4, sources_succeeded=1, sources_failed=1,
    )
    html = editor_client.get(reverse("admin:news_fetchrun_change", args=[run.pk])).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in html
    assert '<progress max="4" value="2"></progress> 已完成 2／4 個來源' in html


def test_finished_run_page_does_not_reload(editor_client):
    run = finished_run()
    html = editor_client.get(reverse("admin:news_fetchrun_change", args=[run.pk])).content.decode()
    assert 'http-equiv="refresh"' not in html


def test_run_page_lists_source_errors(editor_client, make_source):
    run = finished_run(status=FetchRun.Status.PARTIALLY_FAILED)
    source = make_source("https://news.example.tw/down.xml", name="斷線的來源")
    SourceResult.objects.create(
        run=run, source=source, source_name=source.name, url=source.url,
        status=SourceResult.Status.FAILED, error_code=ErrorCode.CONNECTION_REFUSED,
        error_message="connection refused by https://news.example.tw/down.xml",
    )
    html = editor_client.get(reverse("admin:news_fetchrun_change", args=[run.pk])).content.decode()
    assert "<code>connection_refused</code> 連線被拒" in html
    assert "connection refused by https://news.example.tw/down.xml" in html


def test_run_page_is_read_only(editor_client):
    run = finished_run()
    response = editor_client.post(
        reverse("admin:news_fetchrun_change", args=[run.pk]), {"status": FetchRun.Status.FAILED}
    )
    run.refresh_from_db()
    assert response.status_code == 403
    assert run.status == FetchRun.Status.SUCCEEDED


def test_run_list_query_count_is_constant(editor_client, editor, django_assert_num_queries):
    for number in range(10):
        finished_run(requested_by=editor)
    # Session, user, user and group permissions, chart runs, active-run
    # check, two counts, the page of runs with their users and two for the
    # date hierarchy.
    with django_assert_num_queries(11):
        editor_client.get(RUNS_URL)


def test_article_list_links_titles(editor_client, make_source, make_article):
    source = make_source("https://news.example.tw/tech.xml", name="科技")
    make_article("AI 伺服器需求強勁", sources=[source], link="https://news.example.tw/ai", publisher_name="數位時代")
    html = editor_client.get(ARTICLES_URL).content.decode()
    assert '<a href="https://news.example.tw/ai" rel="noopener noreferrer" target="_blank">AI 伺服器需求強勁</a>' in html
    assert "數位時代" in html
    assert "立即抓取" in html


def test_article_list_puts_undated_articles_last(editor_client, make_article):
    make_article("沒有日期", published_at=None)
    make_article("有日期")
    response = editor_client.get(ARTICLES_URL)
    titles = [article.title for article in response.context["cl"].result_list]
    assert titles == ["有日期", "沒有日期"]


def test_article_list_query_count_is_constant(editor_client, articles_in_three_sources, django_assert_num_queries):
    # Session, user, user and group permissions, the source filter, two
    # counts, the page of articles, their sources, two for the date
    # hierarchy and the publisher filter.
    with django_assert_num_queries(12):
        editor_client.get(ARTICLES_URL)


@pytest.fixture
def active_run():
    run = FetchRun.objects.create(
        trigger=FetchRun.Trigger.HTTP,
        status=FetchRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        worker_name="工作者-1",
    )
    locking.acquire(run.pk)
    return run


def test_admin_keeps_active_run_on_delete(client, superuser, fetch_queue, active_run):
    # Without its row, the next trigger would take the lock as stale and
    # start a second run beside the running one.
    client.force_login(superuser)
    response = client.post(reverse("admin:news_fetchrun_delete", args=[active_run.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert FetchRun.objects.filter(pk=active_run.pk).exists()


def test_admin_bulk_delete_keeps_active_run(client, superuser, fetch_queue, active_run):
    finished = finished_run()
    client.force_login(superuser)
    client.post(
        reverse("admin:news_fetchrun_changelist"),
        {"action": "delete_selected", "_selected_action": [active_run.pk, finished.pk], "post": "yes"},
    )
    assert FetchRun.objects.filter(pk=active_run.pk).exists()


def test_admin_deletes_finished_run(client, superuser):
    run = finished_run()
    client.force_login(superuser)
    client.post(reverse("admin:news_fetchrun_delete", args=[run.pk]), {"post": "yes"})
    assert not FetchRun.objects.filter(pk=run.pk).exists()


def test_article_list_rejects_out_of_range_date_filter(editor_client):
    # Year 1 in Asia/Taipei is before year 1 in UTC: SQLite cannot compare
    # it and gets the admin's invalid-filter redirect, PostgreSQL can.
    response = editor_client.get(
        reverse("admin:news_article_changelist"), {"published_at__gte": "0001-01-01"}
    )
    assert response.status_code in (200, 302)
