"""The admin and the reading page in Debian's Chromium, against a live server and a real worker.

The tests skip, with the reason shown, where /usr/bin/chromium or the
playwright package is missing, unless NEWS_BROWSER_REQUIRED=1 (set in CI),
which makes a missing browser a failure. Playwright never downloads a
browser here: it drives the system Chromium through `executable_path`.
On failure, a screenshot of each page the test visited is saved under
test-output/browser/, and with NEWS_BROWSER_SCREENSHOTS=1 after a pass too.
"""

import contextlib
import datetime
import os
import re
from pathlib import Path

import pytest
from django.utils import timezone

from news.models import FetchRun
from tests.conftest import REPO_ROOT
from tests.feedserver import item, rss

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = REPO_ROOT / "test-output" / "browser"
# Generous upper bounds that prove nothing hangs, not speed targets.
PAGE_TIMEOUT_MS = 15_000
RUN_TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _missing_browser_reason():
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: install Debian's chromium and fonts-noto-cjk packages"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -r requirements-dev.txt"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing_browser_reason()
    if reason and os.environ.get("NEWS_BROWSER_REQUIRED") == "1":
        pytest.fail(f"NEWS_BROWSER_REQUIRED=1 but {reason}")
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio event loop in this thread, so
    # Django raises SynchronousOnlyOperation for every ORM call here. The
    # loop runs only inside Playwright calls, never during an ORM call, so
    # the check is switched off for these tests.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()


class Pages:
    """One browser tab that keeps a screenshot of every page it showed, for failure reports."""

    def __init__(self, browser, base_url, locale, name):
        self.context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.base_url = base_url
        self.name = name
        self.shots = []

    def open(self, path):
        self.page.goto(self.base_url + path)
        self.snap()
        return self.page

    def snap(self):
        label = re.sub(r"[^a-z0-9]+", "-", self.page.url.split("//", 1)[-1].lower()).strip("-")
        self.shots.append((f"{len(self.shots):02d}-{label}", self.page.screenshot(full_page=True)))

    def save_screenshots(self):
        folder = SCREENSHOT_DIR / self.name
        folder.mkdir(parents=True, exist_ok=True)
        self.snap()
        for label, png in self.shots:
            (folder / f"{label}.png").write_bytes(png)
        return folder


@contextlib.contextmanager
def pages(browser, live_server, request, locale="zh-TW"):
    tab = Pages(browser, live_server.url, locale, request.node.name)
    try:
        yield tab
    except BaseException:
        folder = tab.save_screenshots()
        print(f"screenshots of the pages this test visited: {folder}")
        raise
    else:
        if os.environ.get("NEWS_BROWSER_SCREENSHOTS") == "1":
            tab.save_screenshots()
    finally:
        tab.context.close()


def log_in(tab, username, password="test-password"):
    page = tab.open("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    tab.snap()
    return page


@pytest.fixture
def news_feed(feed_server, make_source):
    url = feed_server.add(
        "/taipei.xml",
        rss(
            item("tp-1", "北市公車新路線下月上路"),
            item("tp-2", "大稻埕煙火節延期"),
            title="台北新聞",
        ),
    )
    return make_source(url, name="台北新聞")


def test_fetch_now_runs_to_success(browser, live_server, request, editor, news_feed, workers):
    from playwright.sync_api import expect

    with pages(browser, live_server, request) as tab:
        page = log_in(tab, editor.username)
        expect(page.locator("#site-name")).to_have_text("新聞抓取器管理")

        page = tab.open("/admin/news/article/")
        page.get_by_role("button", name="立即抓取").click()
        page.wait_for_url(re.compile(r"/admin/news/fetchrun/\d+/change/$"))
        tab.snap()
        expect(page.locator(".messagelist .success")).to_contain_text("已排入佇列")
        # No worker is running yet, so the run waits in the queue.
        expect(page.locator(".field-run_status .news-status")).to_have_text("排隊中")

        # A second press while the run is queued names the active run. It is
        # made on the article list, which does not reload itself mid-click.
        page = tab.open("/admin/news/article/")
        page.get_by_role("button", name="立即抓取").click()
        page.wait_for_url(re.compile(r"/admin/news/article/$"))
        tab.snap()
        expect(page.locator(".messagelist .warning")).to_contain_text("已有抓取正在進行")

        page.locator(".messagelist .warning a").click()
        page.wait_for_url(re.compile(r"/admin/news/fetchrun/\d+/change/$"))
        workers.start()
        # The page reloads itself every 2 s while the run is active.
        expect(page.locator(".field-run_status .news-status")).to_have_text(
            "成功", timeout=RUN_TIMEOUT_MS
        )
        tab.snap()
        expect(page.locator(".field-articles_created .readonly")).to_have_text("2")
        expect(page.locator(".field-progress .readonly")).to_have_text("1／1")
        expect(page.locator("head meta[http-equiv=refresh]")).to_have_count(0)

        page = tab.open("/admin/news/article/")
        expect(page.locator("#result_list")).to_contain_text("北市公車新路線下月上路")
        expect(page.locator("#result_list thead")).to_contain_text("標題")

        page = tab.open("/")
        expect(page.locator("ol.articles")).to_contain_text("大稻埕煙火節延期")
        expect(page.locator("header h1")).to_have_text("最新新聞")

    run = FetchRun.objects.get()
    assert (run.status, run.trigger) == (FetchRun.Status.SUCCEEDED, FetchRun.Trigger.ADMIN)


def test_run_list_shows_chart_and_lock(browser, live_server, request, superuser):
    from playwright.sync_api import expect

    started = timezone.now() - datetime.timedelta(hours=3)
    for number, status in enumerate([*[FetchRun.Status.SUCCEEDED] * 5, FetchRun.Status.FAILED]):
        FetchRun.objects.create(
            trigger=FetchRun.Trigger.SCHEDULE, status=status, articles_created=number * 7 % 11,
            sources_total=3, sources_succeeded=3, created_at=started + datetime.timedelta(minutes=30 * number),
            started_at=started + datetime.timedelta(minutes=30 * number),
            finished_at=started + datetime.timedelta(minutes=30 * number, seconds=3 + number),
        )
    with pages(browser, live_server, request) as tab:
        log_in(tab, superuser.username)
        page = tab.open("/admin/news/fetchrun/")
        expect(page.locator(".news-chart svg rect.bar")).to_have_count(6)
        expect(page.locator(".news-lock")).to_contain_text("未被持有")
        expect(page.locator("#result_list .news-status-failed")).to_have_text("失敗")


def test_google_news_source_form(browser, live_server, request, superuser):
    from playwright.sync_api import expect

    with pages(browser, live_server, request) as tab:
        log_in(tab, superuser.username)
        page = tab.open("/admin/news/source/add/")
        page.fill("#id_name", "Google 新聞：颱風")
        page.select_option("#id_kind", "google_news")
        page.select_option("#id_gn_mode", "search")
        page.fill("#id_gn_query", "颱風")
        page.fill("#id_gn_when", "明天")
        page.click("input[name=_save]")
        tab.snap()
        expect(page.locator(".field-gn_when .errorlist")).to_contain_text("請輸入數字加上單位")

        page.fill("#id_gn_when", "1d")
        page.click("input[name=_save]")
        page.wait_for_url(re.compile(r"/admin/news/source/$"))
        tab.snap()
        expect(page.locator("#result_list")).to_contain_text(
            "https://news.google.com/rss/search?q=%E9%A2%B1%E9%A2%A8%20when:1d"
        )


def test_language_by_header_and_switcher(browser, live_server, request, superuser, make_article):
    from playwright.sync_api import expect

    make_article("颱風警報解除")
    with pages(browser, live_server, request, locale="en-US") as tab:
        log_in(tab, superuser.username)
        page = tab.open("/admin/news/fetchrun/")
        expect(page.locator("#site-name")).to_have_text("News fetcher administration")
        expect(page.get_by_role("button", name="Fetch now")).to_be_visible()
        expect(page.locator(".news-lock")).to_contain_text("Free: no fetch is running.")

        page = tab.open("/")
        expect(page.locator("header h1")).to_have_text("Latest news")

        page.select_option("#language-select", "zh-hant")
        page.get_by_role("button", name="Switch").click()
        page.wait_for_load_state()
        tab.snap()
        expect(page.locator("header h1")).to_have_text("最新新聞")
        expect(page.locator("ol.articles")).to_contain_text("颱風警報解除")


def test_reading_page_fits_phone_screen(browser, live_server, request, make_source, make_article):
    from playwright.sync_api import expect

    source = make_source("https://news.example.tw/local.xml", name="地方新聞")
    make_article(
        "花蓮縣政府宣布明天停班停課，請民眾注意颱風動態並做好防颱準備",
        sources=[source], publisher_name="中央通訊社",
        summary="中央氣象署發布海上及陸上颱風警報，東部地區風雨明顯增強。" * 3,
    )
    with pages(browser, live_server, request) as tab:
        tab.page.set_viewport_size({"width": 390, "height": 844})
        page = tab.open("/")
        expect(page.locator("ol.articles")).to_contain_text("中央通訊社")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
