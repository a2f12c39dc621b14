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
os.environ.setdefault("NEWS_FETCH_RETRY_DELAY", "0.05")
os.environ.setdefault("NEWS_RESOLVE_INTERVAL", "0.05")
os.environ.setdefault("NEWS_CACHE_PREFIX", "newsfetcher-test")
os.environ.setdefault("NEWS_LOCK_PREFIX", "newsfetcher-test")

from newsproject.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
