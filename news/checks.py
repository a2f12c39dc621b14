"""System checks for the fetch lock's cache."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from news.locking import LOCK_CACHE_ALIAS

PROCESS_LOCAL_BACKENDS = (LocMemCache, DummyCache)


@register()
def check_lock_cache(app_configs, **kwargs):
    """Report an error unless the fetch lock lives in a Redis cache every process shares."""
    config = settings.CACHES.get(LOCK_CACHE_ALIAS)
    if config is None:
        return [
            Error(
                _("CACHES has no %(alias)r cache, which holds the fetch lock.") % {"alias": LOCK_CACHE_ALIAS},
                hint=_("Define it with django.core.cache.backends.redis.RedisCache."),
                id="news.E001",
            )
        ]

    backend = import_string(config["BACKEND"])
    hint = _(
        "Use django.core.cache.backends.redis.RedisCache: set REDIS_URL, or leave it "
        "unset to use the embedded Redis."
    )
    if issubclass(backend, PROCESS_LOCAL_BACKENDS):
        message = _(
            "The fetch lock's cache %(alias)r uses %(backend)s, which keeps its data "
            "inside one process, so two processes could run fetches at the same time."
        )
        error_id = "news.E002"
    elif not issubclass(backend, RedisCache):
        message = _(
            "The fetch lock's cache %(alias)r uses %(backend)s, but the lock needs "
            "Django's RedisCache to extend and release it atomically."
        )
        error_id = "news.E003"
    else:
        return []
    return [
        Error(
            message % {"alias": LOCK_CACHE_ALIAS, "backend": config["BACKEND"]},
            hint=hint,
            id=error_id,
        )
    ]
