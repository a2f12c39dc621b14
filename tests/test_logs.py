"""Log lines: one per event, as text or JSON, never with a token or password."""

import io
import json
import logging

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path

from news import health
from newsproject.logs import FORMATTERS, MASK, SkipHealthCheckResponses, logging_config, redact
from newsproject.urls import urlpatterns as project_urlpatterns
from tests.test_health import closed_port

TOKEN = "觸發權杖-Zx81kQ7tT3mW"
AUTHORIZATION = f"Bearer {TOKEN}"
WRONG_AUTHORIZATION = "Bearer wrong-token-5f0c2b9e"


def fail_with_header(request):
    """A view with a bug that puts the Authorization header into an exception."""
    raise RuntimeError("cannot parse %s" % request.headers["Authorization"])


def echo_ok(request):
    return HttpResponse("好")


urlpatterns = [
    path("leaky/", fail_with_header),
    path("ok/", echo_ok),
    *project_urlpatterns,
]


@pytest.fixture(params=["text", "json"])
def log_output(request):
    """Everything logged at DEBUG and above, through the configured formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FORMATTERS[request.param]())
    handler.addFilter(SkipHealthCheckResponses())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def lines_of(stream):
    return [line for line in stream.getvalue().split("\n") if line]


@pytest.mark.urls(__name__)
@override_settings(NEWS_TRIGGER_TOKEN=TOKEN)
def test_request_logs_contain_no_token(db, log_output):
    client = Client(raise_request_exception=False)
    client.post("/api/fetch-runs/", HTTP_AUTHORIZATION=WRONG_AUTHORIZATION)
    client.get("/api/fetch-runs/", HTTP_AUTHORIZATION=AUTHORIZATION)
    client.get("/ok/", HTTP_AUTHORIZATION=AUTHORIZATION)
    client.get("/no-such-page/", HTTP_AUTHORIZATION=AUTHORIZATION)
    client.get("/leaky/", HTTP_AUTHORIZATION=AUTHORIZATION)
    output = log_output.getvalue()
    assert "/leaky/" in output
    assert TOKEN not in output
    assert json.dumps(TOKEN)[1:-1] not in output
    assert "wrong-token-5f0c2b9e" not in output
    assert MASK in output


@pytest.mark.urls(__name__)
def test_traceback_stays_on_one_line(db, log_output):
    Client(raise_request_exception=False).get("/leaky/", HTTP_AUTHORIZATION=AUTHORIZATION)
    lines = [line for line in lines_of(log_output) if "/leaky/" in line]
    assert len(lines) == 1
    assert "Traceback" in lines[0]


def test_json_lines_parse_with_extras(log_output):
    logging.getLogger("news.fetching").info("run %s source %s: 台灣新聞", 7, 12, extra={"run_id": 7})
    line = lines_of(log_output)[-1]
    if line.startswith("{"):
        event = json.loads(line)
        assert event["message"] == "run 7 source 12: 台灣新聞"
        assert event["level"] == "INFO"
        assert event["logger"] == "news.fetching"
        assert event["run_id"] == 7
        assert event["time"].endswith("+00:00")
    else:
        assert line.endswith("INFO news.fetching run 7 source 12: 台灣新聞")


@pytest.mark.parametrize(
    "message, fields",
    [
        ("run 42 source 7 (https://example.com/feed.xml) failed: timeout", {"run_id": 42, "source_id": 7}),
        ("run 42 finished: status=succeeded", {"run_id": 42}),
        ("health: redis recovered", {}),
        ("rerun 42 later", {}),
    ],
)
def test_json_line_adds_run_and_source_ids(message, fields):
    record = logging.LogRecord("news.fetching", logging.INFO, __file__, 1, message, None, None)
    event = json.loads(FORMATTERS["json"]().format(record))
    assert {name: event[name] for name in ("run_id", "source_id") if name in event} == fields


@override_settings(NEWS_TRIGGER_TOKEN=TOKEN)
def test_redact_masks_trigger_token():
    assert redact(f"token={TOKEN}") == f"token={MASK}"


@override_settings(NEWS_TRIGGER_TOKEN=TOKEN)
def test_redact_masks_json_escaped_token():
    escaped = json.dumps(TOKEN)[1:-1]
    assert redact(escaped) == MASK


@override_settings(RQ_API_TOKEN="rq-statistics-token-91ab")
def test_redact_masks_rq_api_token():
    assert "rq-statistics-token-91ab" not in redact("GET /django-rq/stats.json/rq-statistics-token-91ab")


@override_settings(NEWS_TRIGGER_TOKEN="short")
def test_redact_keeps_short_values():
    assert redact("short story") == "short story"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer abc.def-ghi_jkl", f"Authorization: Bearer {MASK}"),
        ("Basic dXNlcjpwYXNzd29yZA==", f"Basic {MASK}"),
        ("missing bearer token", "missing bearer token"),
        ("postgres://news:密碼pa55@db:5432/news", f"postgres://news:{MASK}@db:5432/news"),
        ("redis://:s3cret@127.0.0.1:6379/0", f"redis://:{MASK}@127.0.0.1:6379/0"),
        ("https://news.example.com/feed.xml", "https://news.example.com/feed.xml"),
    ],
)
def test_redact_masks_credentials(text, expected):
    assert redact(text) == expected


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_redact_masks_database_password(settings):
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "PASSWORD": "資料庫密碼-0042"}}
    assert redact("login with 資料庫密碼-0042 failed") == f"login with {MASK} failed"


def test_redact_masks_redis_password(settings):
    settings.REDIS_URL = "redis://:redis-password-77@127.0.0.1:6379/5"
    assert redact("AUTH redis-password-77") == f"AUTH {MASK}"


def test_logging_config_json_builds_json_formatter():
    config = logging_config("json")
    assert config["formatters"]["line"]["()"] is FORMATTERS["json"]


def test_healthz_failure_logged_once(client, log_output, settings, db, monkeypatch):
    # Forget what earlier tests left failing in this process.
    monkeypatch.setattr(health, "_failing_before", set())
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    client.get("/healthz")
    client.get("/healthz")
    output = log_output.getvalue()
    assert "Service Unavailable" not in output
    assert output.count("health: redis started failing") == 1
