import datetime

import pytest
from django.urls import reverse

from news.article_search import PAGE_SIZE

TAIPEI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture
def two_days(make_source, make_article):
    """Three articles over two Taipei days from two sources."""
    business = make_source("https://news.example.tw/business.xml", name="商業")
    sports = make_source("https://news.example.tw/sports.xml", name="體育")
    make_article(
        "台積電法說會釋出樂觀展望", sources=[business], publisher_name="經濟日報",
        published_at=datetime.datetime(2026, 12, 4, 9, 30, tzinfo=TAIPEI),
    )
    make_article(
        "中華隊晉級十二強決賽", sources=[sports], publisher_name="自由時報",
        published_at=datetime.datetime(2026, 12, 4, 20, 0, tzinfo=TAIPEI),
    )
    make_article(
        "央行理監事會維持利率不變", sources=[business], publisher_name="中央社",
        published_at=datetime.datetime(2026, 12, 3, 23, 50, tzinfo=TAIPEI),
    )
    return business, sports


def test_reading_page_groups_articles_by_local_day(client, two_days):
    response = client.get("/")
    days = [(day, [article.title for article in articles]) for day, articles in response.context["days"]]
    assert days == [
        (datetime.date(2026, 12, 4), ["中華隊晉級十二強決賽", "台積電法說會釋出樂觀展望"]),
        (datetime.date(2026, 12, 3), ["央行理監事會維持利率不變"]),
    ]


def test_reading_page_shows_publisher_and_local_time(client, two_days):
    html = client.get("/").content.decode()
    assert "經濟日報" in html
    assert ">09:30</time>" in html


def test_reading_page_filters_by_source(client, two_days):
    business, _ = two_days
    response = client.get("/", {"source": business.pk})
    titles = {article.title for article in response.context["page"].object_list}
    assert titles == {"台積電法說會釋出樂觀展望", "央行理監事會維持利率不變"}


def test_reading_page_searches_title_and_publisher(client, two_days):
    by_title = client.get("/", {"q": "利率"}).context["page"].object_list
    by_publisher = client.get("/", {"q": "自由時報"}).context["page"].object_list
    assert [article.title for article in by_title] == ["央行理監事會維持利率不變"]
    assert [article.title for article in by_publisher] == ["中華隊晉級十二強決賽"]


def test_undated_article_placed_by_first_seen(client, make_article):
    make_article("舊聞", published_at=datetime.datetime(2020, 1, 1, tzinfo=TAIPEI))
    make_article("沒有日期的快訊", published_at=None)
    titles = [article.title for article in client.get("/").context["page"].object_list]
    assert titles == ["沒有日期的快訊", "舊聞"]


def test_reading_page_paginates_and_keeps_filters(client, make_article):
    for number in range(PAGE_SIZE + 1):
        make_article(f"地方新聞 {number}")
    first = client.get("/", {"q": "地方"})
    second = client.get("/", {"q": "地方", "page": 2})
    assert len(first.context["page"].object_list) == PAGE_SIZE
    assert len(second.context["page"].object_list) == 1
    assert 'href="?q=%E5%9C%B0%E6%96%B9&amp;page=2"' in first.content.decode()


def test_reading_page_reports_invalid_source(client, two_days):
    response = client.get("/", {"source": "商業"})
    assert response.status_code == 200
    assert "source=商業" in response.context["error"]


def test_reading_page_is_chinese_by_default(client, db):
    response = client.get("/")
    assert response["Content-Language"] == "zh-hant"
    assert "最新新聞" in response.content.decode()


def test_reading_page_follows_accept_language(client, db):
    response = client.get("/", headers={"accept-language": "en-US,en;q=0.9"})
    assert "Latest news" in response.content.decode()


def test_language_switcher_sets_english(client, db):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.get("/", headers={"accept-language": "zh-TW"})
    assert "Latest news" in response.content.decode()


def test_reading_page_query_count_is_constant(client, articles_in_three_sources, django_assert_num_queries):
    # Count, page of articles, their sources, the source filter list.
    with django_assert_num_queries(4):
        client.get("/")


@pytest.mark.parametrize("since", ["0001-01-01", "9999-12-31T23:59:59-23:59"])
def test_reading_page_reports_since_out_of_range(client, make_article, since):
    make_article("颱風動態")
    response = client.get(reverse("latest_articles"), {"since": since})
    assert response.status_code == 200
    assert "since=" in response.context["error"]


def test_reading_page_reports_query_with_nul(client, make_article):
    make_article("颱風動態")
    response = client.get(reverse("latest_articles"), {"q": "颱風\x00"})
    assert response.status_code == 200
    assert "NUL" in response.context["error"]


def test_reading_page_reports_digit_symbol_source(client, db):
    response = client.get(reverse("latest_articles"), {"source": "²"})
    assert response.status_code == 200
    assert "source=²" in response.context["error"]


def test_missing_page_is_translated(client, db):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert response.status_code == 404
    assert "找不到頁面" in response.content.decode()
