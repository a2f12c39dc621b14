"""The production configuration, run as an operator would: subprocesses with its environment."""

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import REPO_ROOT


def production_env(var_dir, **overrides):
    """Return the environment that docs/deploy.md lists for production, and nothing else."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(var_dir)),
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "newsproject.settings",
        "NEWS_VAR_DIR": str(var_dir),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "news.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://news.example.com",
        "DJANGO_HTTPS": "1",
        "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
        "DJANGO_HSTS_PRELOAD": "1",
        "DJANGO_PROXY_HTTPS_HEADER": "X-Forwarded-Proto",
        # `check --deploy` never connects to these, and the gunicorn fixture replaces them.
        "DATABASE_URL": "postgres://news@127.0.0.1:5432/news",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "NEWS_TRIGGER_TOKEN": secrets.token_urlsafe(32),
        "NEWS_LOG_FORMAT": "json",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_in_production_env(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_without_https(tmp_path):
    env = production_env(tmp_path, DJANGO_HTTPS=None)
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 1
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr
    assert "security.W012" in result.stderr
    assert "security.W016" in result.stderr


def test_check_deploy_warns_about_single_machine_defaults(tmp_path):
    env = production_env(tmp_path, DATABASE_URL=None, REDIS_URL=None)
    result = manage(env, "check", "--deploy")
    assert "news.W001" in result.stderr
    assert "news.W002" in result.stderr


def test_settings_reject_missing_secret_key(tmp_path):
    result = manage(production_env(tmp_path, DJANGO_SECRET_KEY=None), "check")
    assert result.returncode == 1
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_settings_reject_unknown_log_format(tmp_path):
    result = manage(production_env(tmp_path, NEWS_LOG_FORMAT="xml"), "check")
    assert result.returncode == 1
    assert "NEWS_LOG_FORMAT='xml' is not one of: json, text." in result.stderr


def wait_for_log_line(log_file, pattern, deadline):
    """Poll the log file until a line matches `pattern`, and return the match."""
    while time.monotonic() < deadline:
        found = re.search(pattern, log_file.read_text())
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no line matches {pattern!r} in:\n{log_file.read_text()}")


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn from the Procfile's web line on a free port, after collectstatic.

    Yields the base URL, the log file and the environment.
    """
    var_dir = tmp_path_factory.mktemp("gunicorn")
    env = production_env(
        var_dir,
        DATABASE_URL=os.environ.get("DATABASE_URL"),
        REDIS_URL=os.environ.get("REDIS_URL"),
        NEWS_LOG_FORMAT="text",
    )
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr

    web_command = procfile_commands()["web"].split()
    web_command[0] = str(REPO_ROOT / web_command[0])
    log_file = var_dir / "gunicorn.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [*web_command, "--bind", "127.0.0.1:0", "--workers", "1", "--no-control-socket"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        listening = wait_for_log_line(
            log_file, r"Listening at: http://127\.0\.0\.1:(\d+)", time.monotonic() + 60
        )
        yield f"http://127.0.0.1:{listening.group(1)}", log_file, env
    finally:
        process.terminate()
        process.wait(timeout=30)


def procfile_commands():
    lines = (REPO_ROOT / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Return a redirect as an HTTPError, because its target news.example.com is not here."""

    def redirect_request(self, *args, **kwargs):
        return None


# What the TLS-terminating proxy adds to each request it forwards.
HTTPS = {"X-Forwarded-Proto": "https"}


def fetch(url, **headers):
    """GET `url` as a client of news.example.com and return status, headers and body."""
    request = urllib.request.Request(url, headers={"Host": "news.example.com", **headers})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_procfile_names_web_worker_and_cron():
    assert set(procfile_commands()) == {"web", "worker", "cron"}


@pytest.mark.slow
def test_gunicorn_serves_admin_static_files(gunicorn):
    base_url, _, _ = gunicorn
    status, headers, body = fetch(
        f"{base_url}/static/admin/css/base.css", **HTTPS
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert b"body" in body


@pytest.mark.slow
def test_gunicorn_redirects_plain_http_to_https(gunicorn):
    base_url, _, _ = gunicorn
    status, headers, _ = fetch(f"{base_url}/admin/login/")
    assert status == 301
    assert headers["Location"] == "https://news.example.com/admin/login/"


@pytest.mark.slow
def test_gunicorn_sends_hsts_over_https(gunicorn):
    base_url, _, _ = gunicorn
    status, headers, _ = fetch(f"{base_url}/admin/login/", **HTTPS)
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.slow
def test_gunicorn_answers_healthz_over_plain_http(gunicorn):
    base_url, _, _ = gunicorn
    status, headers, body = fetch(f"{base_url}/healthz")
    assert status in (200, 503)
    assert headers["Content-Type"] == "application/json"
    assert b'"checks"' in body


@pytest.mark.slow
def test_gunicorn_logs_requests_without_token(gunicorn):
    base_url, log_file, env = gunicorn
    token = env["NEWS_TRIGGER_TOKEN"]
    for path in ("/api/fetch-runs/", "/no-such-page/"):
        fetch(f"{base_url}{path}", Authorization=f"Bearer {token}", **HTTPS)
    wait_for_log_line(log_file, r"gunicorn\.access .*GET /no-such-page/", time.monotonic() + 10)
    log = log_file.read_text()
    assert "Not Found: /no-such-page/" in log
    assert token not in log


def test_admin_index_links_queue_statistics(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert 'href="/admin/django_rq/dashboard/"' in response.content.decode()


def test_queue_statistics_need_staff_login(client):
    response = client.get("/django-rq/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
