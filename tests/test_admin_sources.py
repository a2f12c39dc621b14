import pytest
from django.urls import reverse

from news.models import ErrorCode, Source

ADD_URL = reverse("admin:news_source_add")
CHANGELIST_URL = reverse("admin:news_source_changelist")


def google_news_form(**fields):
    data = {
        "name": "Google 新聞：半導體",
        "kind": Source.Kind.GOOGLE_NEWS,
        "enabled": "on",
        "url": "",
        "gn_mode": Source.GoogleNewsMode.SEARCH,
        "gn_section": "",
        "gn_topic": "",
        "gn_query": "半導體",
        "gn_when": "1d",
        "gn_edition": "TW",
        "gn_hl": "",
        "gn_gl": "",
        "gn_ceid": "",
    }
    data.update(fields)
    return data


def test_google_news_form_builds_search_url(editor_client):
    response = editor_client.post(ADD_URL, google_news_form())
    source = Source.objects.get()
    assert response.status_code == 302
    assert source.url == (
        "https://news.google.com/rss/search?q=%E5%8D%8A%E5%B0%8E%E9%AB%94%20when:1d"
        "&hl=zh-TW&gl=TW&ceid=TW:zh-Hant"
    )


def test_google_news_form_builds_section_url(editor_client):
    editor_client.post(
        ADD_URL,
        google_news_form(gn_mode="topic", gn_section="BUSINESS", gn_query="", gn_when="", gn_edition="HK"),
    )
    source = Source.objects.get()
    assert source.url == (
        "https://news.google.com/rss/headlines/section/topic/BUSINESS?hl=zh-HK&gl=HK&ceid=HK:zh-Hant"
    )
    assert (source.gn_topic, source.gn_ceid) == ("BUSINESS", "HK:zh-Hant")


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"gn_query": ""}, "gn_query", "搜尋摘要需要搜尋關鍵字。"),
        ({"gn_when": "明天"}, "gn_when", "請輸入數字加上單位"),
        ({"gn_mode": "top", "gn_query": ""}, "gn_when", "時間範圍只適用於搜尋摘要。"),
        ({"gn_mode": "topic", "gn_query": "", "gn_when": ""}, "gn_section", "主題摘要需要版面或主題 ID。"),
        ({"gn_mode": "topic", "gn_topic": "財經!", "gn_when": ""}, "gn_topic", "這不是主題 ID"),
        ({"gn_mode": "geo", "gn_query": "", "gn_when": ""}, "gn_query", "地區摘要需要地名。"),
    ],
)
def test_google_news_form_rejects_incomplete_parts(editor_client, fields, field, message):
    response = editor_client.post(ADD_URL, google_news_form(**fields))
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, []))
    assert not Source.objects.exists()


def test_google_news_form_rejects_bad_custom_codes(editor_client):
    response = editor_client.post(ADD_URL, google_news_form(gn_edition="", gn_hl="zh TW", gn_gl="TW", gn_ceid="TW:zh-Hant"))
    assert "hl='zh TW'" in " ".join(response.context["adminform"].form.non_field_errors())


def test_feed_form_requires_url(editor_client):
    response = editor_client.post(ADD_URL, {"name": "部落格", "kind": Source.Kind.FEED, "url": ""})
    assert "請輸入 RSS 或 Atom 摘要的網址。" in response.context["adminform"].form.errors["url"]


def test_google_news_form_rejects_duplicate_feed(editor_client):
    editor_client.post(ADD_URL, google_news_form())
    response = editor_client.post(ADD_URL, google_news_form(name="另一個名稱"))
    assert response.context["adminform"].form.errors["url"]
    assert Source.objects.count() == 1


def test_edit_form_shows_section_and_edition(editor_client):
    source = Source.objects.create(
        name="商業", kind=Source.Kind.GOOGLE_NEWS, gn_mode="topic", gn_topic="BUSINESS",
        gn_hl="zh-TW", gn_gl="TW", gn_ceid="TW:zh-Hant",
    )
    response = editor_client.get(reverse("admin:news_source_change", args=[source.pk]))
    form = response.context["adminform"].form
    assert (form.initial["gn_section"], form.initial["gn_edition"]) == ("BUSINESS", "TW")


@pytest.mark.parametrize("action, enabled", [("enable_sources", True), ("disable_sources", False)])
def test_source_actions_set_enabled(editor_client, make_source, action, enabled):
    sources = [make_source(f"https://news.example.tw/{n}.xml", enabled=not enabled) for n in range(2)]
    response = editor_client.post(
        CHANGELIST_URL, {"action": action, "_selected_action": [s.pk for s in sources]}, follow=True
    )
    assert set(Source.objects.values_list("enabled", flat=True)) == {enabled}
    assert "2 個來源" in str(list(response.context["messages"])[0])


def test_source_list_shows_url_and_error(editor_client, make_source):
    source = make_source("https://news.example.tw/broken.xml", name="壞掉的來源")
    Source.objects.filter(pk=source.pk).update(
        last_failure_at="2026-12-04T01:00:00Z", consecutive_failures=3,
        last_error_code=ErrorCode.TIMEOUT, last_error="timed out after 2 s waiting for the feed",
    )
    html = editor_client.get(CHANGELIST_URL).content.decode()
    assert '<a href="https://news.example.tw/broken.xml"' in html
    assert "逾時：timed out after 2 s" in html


def test_fetch_action_is_hidden_without_permission(client, reader, make_source):
    make_source("https://news.example.tw/a.xml")
    client.force_login(reader)
    response = client.get(CHANGELIST_URL)
    assert "fetch_sources" not in response.content.decode()


def test_source_list_query_count_is_constant(editor_client, make_source, django_assert_num_queries):
    for number in range(10):
        make_source(f"https://news.example.tw/{number}.xml")
    # Session, user, user and group permissions, two counts, the page of
    # sources and the error-code filter.
    with django_assert_num_queries(8):
        editor_client.get(CHANGELIST_URL)


def feed_form(url):
    return {
        "name": "檔案傳輸來源",
        "kind": Source.Kind.FEED,
        "enabled": "on",
        "url": url,
        "gn_mode": "",
        "gn_section": "",
        "gn_topic": "",
        "gn_query": "",
        "gn_when": "",
        "gn_edition": "TW",
        "gn_hl": "",
        "gn_gl": "",
        "gn_ceid": "",
    }


@pytest.mark.parametrize("url", ["ftp://example.com/feed.xml", "ftps://example.com/feed.xml"])
def test_feed_form_rejects_non_http_url(editor_client, url):
    # add_source rejects these too, and the fetcher would fail them on every run.
    response = editor_client.post(ADD_URL, feed_form(url))
    assert response.status_code == 200
    assert "http://" in " ".join(response.context["adminform"].form.errors["url"])
    assert not Source.objects.exists()


def test_feed_form_rejects_url_differing_only_in_case(editor_client, make_source):
    make_source("https://news.example.tw/feed.xml", name="範例")
    response = editor_client.post(ADD_URL, feed_form("HTTPS://NEWS.EXAMPLE.TW/feed.xml"))
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert Source.objects.count() == 1


def test_feed_form_stores_lower_case_host(editor_client):
    editor_client.post(ADD_URL, feed_form("HTTPS://NEWS.EXAMPLE.TW/Feed.xml"))
    assert Source.objects.get().url == "https://news.example.tw/Feed.xml"


def test_google_news_form_long_query(editor_client):
    # 300 characters percent-encode to more than the 2,000 the url column holds.
    response = editor_client.post(ADD_URL, google_news_form(gn_query="台" * 300))
    errors = response.context["adminform"].form.errors
    assert "gn_query" in errors
    assert "url" not in errors
    assert not Source.objects.exists()


def test_google_news_form_long_topic_id(editor_client):
    fields = {"gn_mode": "topic", "gn_topic": "A" * 150, "gn_query": "", "gn_when": ""}
    response = editor_client.post(ADD_URL, google_news_form(**fields))
    errors = response.context["adminform"].form.errors
    assert "gn_topic" in errors
    assert "gn_section" not in errors
