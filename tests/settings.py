"""Settings for the test suite: the project's settings with test defaults.

Values still come from the environment first, so CI can point the suite at
PostgreSQL (DATABASE_URL) or another Redis (REDIS_URL).
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
# The feed servers of the tests listen on 127.0.0.1.
os.environ.setdefault("NEWS_ALLOW_PRIVATE_ADDRESSES", "1")
os.environ.setdefault("NEWS_CONNECT_TIMEOUT", "2")
os.environ.setdefault("NEWS_READ_TIMEOUT", "2")
os.environ.setdefault("NEWS_FETCH_DEADLINE", "5")
os.environ.setdefault("NEWS_CACHE_PREFIX", "newsfetcher-test")
os.environ.setdefault("NEWS_LOCK_PREFIX", "newsfetcher-test")

from newsproject.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The tests render admin pages without running collectstatic first, so they
# use the plain storage (the manifest storage needs collectstatic's manifest)
# and let WhiteNoise look files up per request instead of scanning STATIC_ROOT.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
