import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from news.management.commands.wait_for_redis import without_password
from tests.test_triggers import closed_port_url


def test_wait_for_redis_returns_when_redis_responds():
    call_command("wait_for_redis", "--timeout", "2")


def test_wait_for_redis_fails_on_closed_port(settings):
    settings.REDIS_URL = closed_port_url().replace("redis://", "redis://:秘密@")
    with pytest.raises(CommandError) as raised:
        call_command("wait_for_redis", "--timeout", "0.2")
    assert "秘密" not in str(raised.value)
    assert ":***@127.0.0.1" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@127.0.0.1:6379/1", "redis://:***@127.0.0.1:6379/1"),
        ("redis://user:pw@127.0.0.1:6379/1", "redis://user:***@127.0.0.1:6379/1"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
    ],
)
def test_without_password_masks_only_password(url, shown):
    assert without_password(url) == shown
