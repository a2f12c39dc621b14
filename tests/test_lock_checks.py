import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from news.checks import check_lock_cache


def check_ids():
    return [message.id for message in check_lock_cache(None)]


@pytest.mark.parametrize(
    "backend",
    ["django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"],
)
def test_process_local_cache_is_an_error(settings, backend):
    settings.CACHES = {"default": {"BACKEND": backend}}
    assert check_ids() == ["news.E002"]


def test_file_cache_is_an_error(settings, tmp_path):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }
    assert check_ids() == ["news.E003"]


def test_missing_default_cache_is_an_error(settings):
    settings.CACHES = {"other": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    assert check_ids() == ["news.E001"]


def test_redis_cache_passes(settings):
    assert check_ids() == []


def test_check_command_fails_on_locmem_without_debug(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with pytest.raises(SystemCheckError, match="news.E002"):
        call_command("check")
