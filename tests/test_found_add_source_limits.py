"""add_source values longer than the Source columns, and duplicates that differ only in case.

On PostgreSQL each too-long value ends the command with a DataError traceback
and exit status 1. On SQLite the row is stored longer than the model allows.
The README promises exit status 2 with a message for an invalid source.
"""

import pytest
from django.core.management import CommandError

from news.models import Source
from tests.test_commands import run_command

TOO_LONG_ARGUMENTS = {
    # URLValidator accepts up to 2048 characters, but the url column is varchar(2000).
    "url": ["https://example.com/" + "a" * 2010],
    "name": ["https://example.com/feed.xml", "--name", "名" * 201],
    # 300 characters percent-encode to more than 2000 in the feed URL.
    "search": ["--google-news", "--search", "台" * 300],
    "hl": ["--google-news", "--hl", "a" * 21],
    # TOPIC_ID_PATTERN allows 200 characters, but gn_topic is varchar(100).
    "topic": ["--google-news", "--topic", "A" * 150],
}


@pytest.mark.parametrize("arguments", TOO_LONG_ARGUMENTS.values(), ids=TOO_LONG_ARGUMENTS.keys())
def test_add_source_too_long_value_exits_2(db, arguments):
    with pytest.raises(CommandError) as raised:
        run_command("add_source", *arguments)
    assert raised.value.returncode == 2
    assert not Source.objects.exists()


def test_add_source_rejects_url_differing_only_in_case(db):
    # Scheme and host are case-insensitive, so this is the same feed.
    run_command("add_source", "https://example.com/feed.xml", "--name", "範例")
    with pytest.raises(CommandError) as raised:
        run_command("add_source", "HTTPS://EXAMPLE.COM/feed.xml", "--name", "範例大寫")
    assert raised.value.returncode == 2
    assert Source.objects.count() == 1
