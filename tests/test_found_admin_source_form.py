"""The admin source form accepts feed URLs that add_source rejects."""

import pytest
from django.urls import reverse

from news.models import Source

ADD_URL = reverse("admin:news_source_add")


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
def test_admin_feed_form_rejects_non_http_url(editor_client, url):
    # add_source rejects these as "not a valid feed URL", and the fetcher
    # fails every run of them, so the admin form must reject them too.
    response = editor_client.post(ADD_URL, feed_form(url))
    assert response.status_code == 200
    assert not Source.objects.exists()
