import datetime
import json

import pytest
from django.test import Client
from django.utils import translation

from news.article_search import PAGE_SIZE
from news.views import errors

TAIPEI = datetime.timezone(datetime.timedelta(hours=8))
URL = "/api/articles/"


@pytest.fixture
def business(make_source):
    return make_source("https://news.example.tw/business.xml", name="商業")


def test_api_returns_article_fields(client, business, make_article):
    make_article(
        "半導體出口創新高", sources=[business], publisher_name="中央社",
        published_at=datetime.datetime(2026, 12, 4, 8, 0, tzinfo=TAIPEI),
        summary="財政部公布十一月出口統計。",
    )
    body = client.get(URL).json()
    article = body["results"][0]
    assert (body["count"], body["page"], body["pages"]) == (1, 1, 1)
    assert article["title"] == "半導體出口創新高"
    assert article["publisher"] == "中央社"
    assert article["published_at"] == "2026-12-04T00:00:00+00:00"
    assert article["sources"] == [{"id": business.pk, "name": "商業"}]


def test_api_filters_by_source_and_query(client, business, make_source, make_article):
    other = make_source("https://news.example.tw/other.xml", name="其他")
    make_article("半導體出口創新高", sources=[business])
    make_article("半導體人才短缺", sources=[other])
    make_article("颱風假標準", sources=[business])
    body = client.get(URL, {"source": business.pk, "q": "半導體"}).json()
    assert [article["title"] for article in body["results"]] == ["半導體出口創新高"]


def test_api_since_filters_on_first_seen(client, make_article):
    make_article("昨天抓到", first_seen_at=datetime.datetime(2026, 12, 3, 12, 0, tzinfo=TAIPEI))
    make_article("今天抓到", first_seen_at=datetime.datetime(2026, 12, 4, 12, 0, tzinfo=TAIPEI))
    # An unencoded "+" arrives as a space, and the API still reads the offset.
    for since in ("2026-12-04", "2026-12-04T00:00:00+08:00", "2026-12-04T00:00:00 08:00"):
        body = client.get(URL, {"since": since}).json()
        assert [article["title"] for article in body["results"]] == ["今天抓到"], since


def test_api_paginates_with_links(client, make_article):
    for number in range(PAGE_SIZE + 1):
        make_article(f"新聞 {number}")
    first = client.get(URL).json()
    second = client.get(first["next"]).json()
    assert (first["pages"], len(first["results"]), first["previous"]) == (2, PAGE_SIZE, None)
    assert (second["page"], len(second["results"]), second["next"]) == (2, 1, None)


@pytest.mark.parametrize(
    "params, status, fragment",
    [
        ({"since": "昨天"}, 400, "since=昨天"),
        ({"source": "商業"}, 400, "source=商業"),
        ({"page": "二"}, 400, "page=二"),
        ({"page": "9"}, 404, "9"),
    ],
)
def test_api_rejects_invalid_parameters(client, db, params, status, fragment):
    response = client.get(URL, params)
    assert response.status_code == status
    assert fragment in response.json()["error"]


def test_api_errors_follow_accept_language(client, db):
    chinese = client.get(URL, {"page": "x"}, headers={"accept-language": "zh-TW"}).json()
    english = client.get(URL, {"page": "x"}, headers={"accept-language": "en"}).json()
    assert "無效" in chinese["error"]
    assert "invalid" in english["error"]


def test_api_rejects_post(client, db):
    assert client.post(URL).status_code == 405


def test_api_query_count_is_constant(client, articles_in_three_sources, django_assert_num_queries):
    # Count, page of articles, their sources.
    with django_assert_num_queries(3):
        client.get(URL)


# since values that parse as ISO 8601 but fall outside the range of UTC
# datetimes: year 1 in Asia/Taipei is before year 1 in UTC, and a -23:59
# offset on the last second of year 9999 is after it.
OUT_OF_RANGE_SINCE = ["0001-01-01", "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("since", OUT_OF_RANGE_SINCE)
def test_api_since_out_of_range_is_400(client, make_article, since):
    make_article("颱風動態")
    response = client.get(URL, {"since": since})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "since" in response.json()["error"]


def test_api_query_with_nul_is_400(client, make_article):
    # PostgreSQL text cannot contain NUL, so the query would raise DataError.
    make_article("颱風動態")
    response = client.get(URL, {"q": "颱風\x00"})
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]


def test_api_post_is_json_405(db):
    # With CSRF checks on, as outside the test client, the 405 must still win.
    response = Client(enforce_csrf_checks=True).post(URL)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, HEAD"
    assert "POST" in response.json()["error"]


@pytest.mark.parametrize("source", ["²", "①", "٣"])
def test_api_source_digit_symbol_is_400(client, source):
    # str.isdigit() accepts superscripts and circled digits, but int() rejects them.
    response = client.get(URL, {"source": source})
    assert response.status_code == 400
    assert "source" in response.json()["error"]


def test_api_unknown_path_is_json_404(client, db):
    response = client.get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()


@pytest.mark.parametrize("source", ["999999999999999999", "9" * 19])
def test_api_source_beyond_id_range_is_not_500(client, db, source):
    response = client.get(URL, {"source": source})
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"


def test_api_server_error_is_json(rf):
    response = errors.server_error(rf.get("/api/articles/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "error" in json.loads(response.content)


def test_page_server_error_is_translated(rf):
    with translation.override("zh-hant"):
        response = errors.server_error(rf.get("/"))
    assert response.status_code == 500
    assert "伺服器錯誤" in response.content.decode()
