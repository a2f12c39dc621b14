"""Settings for the news fetcher.

Every deploy-time value comes from an environment variable (see README.md).
The defaults suit a fresh checkout: SQLite under var/ and an embedded Redis
on a Unix socket under var/, both created by `make run`.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from newsproject.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("NEWS_VAR_DIR", str(BASE_DIR / "var")))
# SQLite cannot create the folder of its database file, so make it here.
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string, "
            "or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# "news" comes before the admin so its templates/admin/ overrides (the
# language switcher in the admin header) win over the admin's own templates.
INSTALLED_APPS = [
    "news",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "newsproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "newsproject.wsgi.application"

# Database. The SQLite default is tuned for one web process and one worker
# writing at once: WAL lets readers run beside the writer, IMMEDIATE takes the
# write lock when a transaction starts (so two writers queue on the busy
# timeout instead of failing half-way with "database is locked").
SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("TEST", {})
    # The test database is a file, not :memory:, so worker processes started
    # by the tests see the same data.
    DATABASES["default"]["TEST"].setdefault("NAME", str(VAR_DIR / "test.sqlite3"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis holds the fetch lock (through the cache) and the RQ queue. Without
# REDIS_URL the project runs its own redis-server on a Unix socket under var/.
REDIS_URL = env_str("REDIS_URL")
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
if not REDIS_URL:
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("NEWS_CACHE_PREFIX", "newsfetcher"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
    },
}

RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL,
        "DEFAULT_TIMEOUT": env_int("NEWS_JOB_TIMEOUT", 900, minimum=1),
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalization: Traditional Chinese (Taiwan) first, English beside it.
LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "zh-hant")
LANGUAGES = [
    ("zh-hant", _("Traditional Chinese")),
    ("en", _("English")),
]
LOCALE_PATHS = [BASE_DIR / "news" / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Taipei")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "news": {"level": env_str("NEWS_LOG_LEVEL", "INFO")},
    },
}

# Fetching. Times are in seconds, sizes in bytes.
NEWS_CONNECT_TIMEOUT = env_float("NEWS_CONNECT_TIMEOUT", 5.0, minimum=0.1)
NEWS_READ_TIMEOUT = env_float("NEWS_READ_TIMEOUT", 10.0, minimum=0.1)
# Overall limit for one source's download, so a server that trickles one byte
# at a time cannot hold a run for ever.
NEWS_FETCH_DEADLINE = env_float("NEWS_FETCH_DEADLINE", 30.0, minimum=0.1)
NEWS_MAX_FEED_BYTES = env_int("NEWS_MAX_FEED_BYTES", 10 * 1024 * 1024, minimum=1024)
NEWS_USER_AGENT = env_str("NEWS_USER_AGENT", "")
NEWS_ALLOW_PRIVATE_ADDRESSES = env_bool("NEWS_ALLOW_PRIVATE_ADDRESSES", False)
NEWS_FETCH_CONCURRENCY = env_int("NEWS_FETCH_CONCURRENCY", 4, minimum=1)
NEWS_SOURCE_MAX_FAILURES = env_int("NEWS_SOURCE_MAX_FAILURES", 10, minimum=1)
NEWS_SOURCE_MAX_BACKOFF = env_int("NEWS_SOURCE_MAX_BACKOFF", 24 * 3600, minimum=0)

# Triggering and scheduling.
NEWS_LOCK_TTL = env_int("NEWS_LOCK_TTL", 60, minimum=2)
NEWS_LOCK_PREFIX = env_str("NEWS_LOCK_PREFIX", "newsfetcher")
NEWS_JOB_TIMEOUT = RQ_QUEUES["default"]["DEFAULT_TIMEOUT"]
NEWS_FETCH_INTERVAL_MINUTES = env_int("NEWS_FETCH_INTERVAL_MINUTES", 30, minimum=1)
NEWS_TRIGGER_TOKEN = env_str("NEWS_TRIGGER_TOKEN")
