"""Articles come from feeds: the admin offers no form to add one by hand."""

from django.urls import reverse

from news.models import Article

ADD_URL = reverse("admin:news_article_add")


def article_form(title, link):
    return {"guid": "", "title": title, "link": link, "summary": "", "sources": []}


def test_article_add_page_is_forbidden(admin_client):
    assert admin_client.get(ADD_URL).status_code == 403


def test_article_add_post_stores_nothing(admin_client):
    admin_client.post(ADD_URL, article_form("手動新增", "https://news.example.tw/1"))
    assert not Article.objects.exists()
