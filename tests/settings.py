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

# Worker processes that a test starts use the test database of that test's
# session, whose name the test passes in this variable.
if os.environ.get("NEWS_TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["NEWS_TEST_DATABASE_NAME"]

# Without REDIS_URL the test session starts its own embedded Redis (see
# tests/conftest.py), on a socket apart from the one `make run` uses.
if not os.environ.get("REDIS_URL"):
    EMBEDDED_REDIS_SOCKET = VAR_DIR / "test-redis.sock"
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}"
    CACHES["default"]["LOCATION"] = REDIS_URL
    RQ_QUEUES["default"]["URL"] = REDIS_URL
