"""Failing tests for articles added by hand in the admin."""

import pytest
from django.urls import reverse

from news.models import Article

ADD_URL = reverse("admin:news_article_add")


def article_form(title, link):
    return {
        "guid": "",
        "title": title,
        "link": link,
        "publisher_name": "",
        "publisher_url": "",
        "original_url": "",
        "summary": "",
        "sources": [],
    }


@pytest.fixture
def lenient_admin_client(admin_client):
    """The admin client, returning a 500 response instead of raising the view's exception."""
    admin_client.raise_request_exception = False
    return admin_client


def test_second_hand_added_article_is_no_server_error(lenient_admin_client):
    # Each article added by hand is saved with an empty identity, so the second one
    # breaks the unique constraint.
    lenient_admin_client.post(ADD_URL, article_form("手動新增一", "https://news.example.tw/1"))
    response = lenient_admin_client.post(
        ADD_URL, article_form("手動新增二", "https://news.example.tw/2")
    )
    assert response.status_code < 500


def test_hand_added_article_gets_identity(admin_client):
    admin_client.post(ADD_URL, article_form("手動新增", "https://news.example.tw/1"))
    assert Article.objects.get().identity != ""
