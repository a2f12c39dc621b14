"""Per-host waits kept in the Django cache (Redis)."""

import datetime
import time
from email.utils import format_datetime

import pytest

from news import hosts
from news.download import parse_retry_after

URL = "https://News.Google.com/rss/search?q=%E5%8F%B0%E8%82%A1"


@pytest.fixture(autouse=True)
def no_wait():
    hosts.clear_wait(URL)
    yield
    hosts.clear_wait(URL)


def test_host_key_ignores_case_and_default_port():
    assert hosts.host_of(URL) == "news.google.com:443"
    assert hosts.host_of("https://news.google.com:443/rss") == "news.google.com:443"


def test_host_key_keeps_other_ports():
    assert hosts.host_of("http://127.0.0.1:8080/feed") == "127.0.0.1:8080"


def test_429_without_retry_after_waits_default():
    assert hosts.record_wait(URL, 429, None) == hosts.DEFAULT_WAIT


def test_503_without_retry_after_does_not_wait():
    hosts.record_wait(URL, 503, None)
    assert hosts.wait_until(URL) is None


def test_wait_applies_to_every_url_on_host():
    hosts.record_wait(URL, 503, 120)
    until = hosts.wait_until("https://news.google.com/rss/topics/CAAqJgg")
    assert until is not None
    assert 110 < until - time.time() <= 120


def test_retry_after_is_capped(settings):
    settings.NEWS_HOST_MAX_WAIT = 300
    assert hosts.record_wait(URL, 429, 10**9) == 300


def test_retry_after_as_http_date():
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=120)
    assert 110 <= parse_retry_after(format_datetime(later, usegmt=True)) <= 120


@pytest.mark.parametrize("value", [None, "", "soon", "-5"])
def test_unusable_retry_after_is_none(value):
    assert parse_retry_after(value) is None
