"""Filter values that make the articles API and the reading page fail with a 500.

Each case is a well-formed request that a client or a crawler can send. The
expected response is JSON with status 200 or 400, never a 500 error page.
"""

import pytest
from django.test import Client

API_URL = "/api/articles/"
READING_URL = "/"

# since values that parse as ISO 8601 but are outside the range the
# database can compare. Year 1 in Asia/Taipei is before year 1 in UTC, and a
# -23:59 offset on the last second of year 9999 is after it.
OUT_OF_RANGE_SINCE = ["0001-01-01", "9999-12-31T23:59:59-23:59"]


@pytest.mark.parametrize("since", OUT_OF_RANGE_SINCE)
def test_api_since_out_of_range_is_not_500(client, make_article, since):
    make_article("颱風動態")
    response = client.get(API_URL, {"since": since})
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("since", OUT_OF_RANGE_SINCE)
def test_reading_page_since_out_of_range(client, make_article, since):
    make_article("颱風動態")
    response = client.get(READING_URL, {"since": since})
    assert response.status_code == 200


def test_api_query_with_nul(client, make_article):
    # PostgreSQL text cannot contain NUL, so psycopg raises DataError.
    make_article("颱風動態")
    response = client.get(API_URL, {"q": "颱風\x00"})
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"


def test_reading_page_query_with_nul(client, make_article):
    make_article("颱風動態")
    response = client.get(READING_URL, {"q": "颱風\x00"})
    assert response.status_code == 200


def test_api_post_is_json_405(db):
    # Outside the test client, CSRF checks run before require_GET, so a POST
    # gets Django's HTML "CSRF verification failed" page instead of a 405.
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(API_URL)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()


@pytest.mark.parametrize("source", ["²", "①"])
def test_api_source_digit_symbol_is_400(client, source):
    # str.isdigit() accepts superscripts and circled digits, but int() rejects them.
    response = client.get(API_URL, {"source": source})
    assert response.status_code == 400
    assert "source" in response.json()["error"]


def test_reading_page_source_digit_symbol(client):
    response = client.get(READING_URL, {"source": "²"})
    assert response.status_code == 200
