import logging

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import translation

from news.models import FetchRun, SourceResult
from news.triggers import start_fetch
from tests.test_triggers import closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "api-test-token-0123456789"
URL = "/api/fetch-runs/"


@pytest.fixture
def token(fetch_queue, settings):
    settings.NEWS_TRIGGER_TOKEN = TOKEN
    return TOKEN


def post(client=None, token=None, **extra):
    client = client or Client()
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(URL, **extra)


def user_with(*codenames, staff=True, username="編輯"):
    user = User.objects.create_user(username, password="密碼-12345", is_staff=staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_post_with_token_starts_run(token):
    response = post(token=token)
    run = FetchRun.objects.get()
    assert response.status_code == 202
    assert response.json() == {
        "id": run.pk,
        "status": "queued",
        "url": f"http://testserver/api/fetch-runs/{run.pk}/",
    }
    assert response["Location"] == f"http://testserver/api/fetch-runs/{run.pk}/"
    assert run.trigger == FetchRun.Trigger.HTTP


def test_post_while_active_is_conflict(token):
    active = start_fetch(FetchRun.Trigger.SCHEDULE)
    response = post(token=token)
    assert response.status_code == 409
    assert response.json()["active_run"] == {
        "id": active.pk,
        "status": "queued",
        "url": f"http://testserver/api/fetch-runs/{active.pk}/",
    }
    assert str(active.pk) in response.json()["error"]


def test_post_with_redis_down_is_unavailable(token, settings):
    url = closed_port_url()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.RQ_QUEUES = {"default": {"URL": url, "DEFAULT_TIMEOUT": 60}}
    response = post(token=token)
    run = FetchRun.objects.get()
    assert response.status_code == 503
    assert "Redis" in response.json()["error"]
    assert response.json()["run"]["status"] == FetchRun.Status.FAILED
    assert run.status == FetchRun.Status.FAILED


def test_bad_token_is_unauthorized(token, settings):
    response = post(token="wrong-token")
    assert response.status_code == 401
    # URLs outside i18n_patterns() respond in LANGUAGE_CODE.
    with translation.override(settings.LANGUAGE_CODE):
        assert response.json()["error"] == translation.gettext("Invalid token.")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert FetchRun.objects.count() == 0


def test_bad_token_is_not_logged(token, caplog):
    with caplog.at_level(logging.DEBUG):
        post(token="secret-guess-9876")
    assert "rejected an invalid bearer token" in caplog.text
    assert "secret-guess-9876" not in caplog.text


def test_token_is_off_when_unset(settings, fetch_queue):
    settings.NEWS_TRIGGER_TOKEN = ""
    response = post(token="anything")
    assert response.status_code == 401
    assert "NEWS_TRIGGER_TOKEN" in response.json()["error"]


def test_non_bearer_authorization_is_unauthorized(token):
    response = Client().post(URL, HTTP_AUTHORIZATION=f"Basic {TOKEN}")
    assert response.status_code == 401


def test_anonymous_post_is_unauthorized(fetch_queue):
    response = post()
    assert response.status_code == 401
    assert "error" in response.json()


def test_staff_without_permission_is_forbidden(fetch_queue):
    client = Client()
    client.force_login(user_with())
    response = post(client)
    assert response.status_code == 403
    assert "news.start_fetch" in response.json()["error"]


def test_permission_without_staff_is_forbidden(fetch_queue):
    client = Client()
    client.force_login(user_with("start_fetch", staff=False))
    assert post(client).status_code == 403


def test_staff_with_permission_starts_run(fetch_queue):
    user = user_with("start_fetch")
    client = Client()
    client.force_login(user)
    response = post(client)
    assert response.status_code == 202
    assert FetchRun.objects.get().requested_by == user


def test_session_post_without_csrf_token_is_forbidden(fetch_queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("start_fetch"))
    response = post(client)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert FetchRun.objects.count() == 0


def test_session_post_with_csrf_token_starts_run(fetch_queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("start_fetch"))
    client.get("/admin/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = post(client, HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 202


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_on_list_are_not_allowed(token, method):
    response = getattr(Client(), method)(URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "error" in response.json()


def test_post_on_detail_is_not_allowed(token):
    run = start_fetch(FetchRun.Trigger.HTTP)
    response = Client().post(f"{URL}{run.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_detail_returns_run_with_results(token, make_source):
    source = make_source("http://127.0.0.1:9/新聞.xml", name="新聞")
    run = FetchRun.objects.create(
        trigger=FetchRun.Trigger.HTTP,
        status=FetchRun.Status.PARTIALLY_FAILED,
        sources_total=1,
        sources_failed=1,
    )
    SourceResult.objects.create(
        run=run,
        source=source,
        source_name=source.name,
        url=source.url,
        status=SourceResult.Status.FAILED,
        error_code="timeout",
        error_message="timed out after 2 s",
    )
    response = Client().get(f"{URL}{run.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "partially_failed"
    assert body["sources_failed"] == 1
    assert body["results"][0]["source_name"] == "新聞"
    assert body["results"][0]["error_message"] == "timed out after 2 s"


def test_detail_of_missing_run_is_not_found(token):
    response = Client().get(f"{URL}999999/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404
    assert "999999" in response.json()["error"]


def test_detail_needs_authentication(fetch_queue):
    run = FetchRun.objects.create(trigger=FetchRun.Trigger.HTTP)
    assert Client().get(f"{URL}{run.pk}/").status_code == 401


def test_detail_for_staff_with_view_permission(fetch_queue):
    run = FetchRun.objects.create(trigger=FetchRun.Trigger.HTTP)
    client = Client()
    client.force_login(user_with("view_fetchrun"))
    assert client.get(f"{URL}{run.pk}/").status_code == 200


def test_session_post_without_csrf_cookie_is_translated(fetch_queue):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("start_fetch"))
    with translation.override("zh-hant"):
        response = post(client)
    error = response.json()["error"]
    assert "缺少 CSRF cookie" in error
    assert "not set" not in error


def test_detail_with_non_numeric_id_is_json_404(token):
    response = Client().get(f"{URL}abc/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/fetch-runs/abc/" in response.json()["error"]


def test_detail_keeps_chinese_unescaped(token, make_source):
    run = FetchRun.objects.create(trigger=FetchRun.Trigger.HTTP, worker_name="工作者-1")
    response = Client().get(f"{URL}{run.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert "工作者-1" in response.content.decode()
