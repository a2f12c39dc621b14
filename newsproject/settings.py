"""Settings for the news fetcher.

Every deploy-time value comes from an environment variable (see README.md).
The defaults suit a fresh checkout: SQLite under var/ and an embedded Redis
on a Unix socket under var/, both created by `make run`.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from newsproject.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from newsproject.logs import logging_config

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
# Old keys still accepted for signed values while a new SECRET_KEY rolls out.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# HTTPS. DJANGO_HTTPS=1 declares that browsers reach the site over HTTPS only.
# It turns on secure cookies, the redirect from HTTP to HTTPS and HSTS, which
# is what `manage.py check --deploy` asks for. The defaults stay off so that a
# development server on plain HTTP keeps working.
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
CSRF_FAILURE_VIEW = "news.views.errors.csrf_failure"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", HTTPS)
# Load balancers and monitors probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
# Both commit every subdomain (and, with preload, every browser's built-in list)
# to HTTPS, so they are opt-in even with DJANGO_HTTPS=1.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Behind a proxy that ends TLS, Django sees plain HTTP. The proxy then names the
# original scheme in a header such as X-Forwarded-Proto, which must be trusted
# only when the proxy overwrites it on every request.
PROXY_HTTPS_HEADER = env_str("DJANGO_PROXY_HTTPS_HEADER").strip()
if PROXY_HTTPS_HEADER:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + PROXY_HTTPS_HEADER.upper().replace("-", "_"),
        "https",
    )

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
    # Serves the collected static files (the admin's CSS and JavaScript) from
    # gunicorn, so no separate web server is needed for them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
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
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Without a limit, a database host that drops packets holds every request
    # (and the health check) until the operating system gives up, minutes later.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DATABASE_CONNECT_TIMEOUT", 5, minimum=1
    )
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
# `collectstatic` writes compressed copies and names that carry a content hash,
# so WhiteNoise can let browsers cache them for ever.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Logging: one line per event on stderr, as text or as JSON objects for a log
# collector. Known secrets are masked in every line (see newsproject/logs.py).
NEWS_LOG_FORMAT = env_choice("NEWS_LOG_FORMAT", "text", {"text", "json"})
LOGGING = logging_config(NEWS_LOG_FORMAT, news_level=env_str("NEWS_LOG_LEVEL", "INFO"))

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
# Retries within one download after connection errors and 5xx statuses; the
# delay doubles from NEWS_FETCH_RETRY_DELAY, with jitter.
NEWS_FETCH_RETRIES = env_int("NEWS_FETCH_RETRIES", 2, minimum=0)
NEWS_FETCH_RETRY_DELAY = env_float("NEWS_FETCH_RETRY_DELAY", 1.0, minimum=0.0)
# Maximum wait, in seconds, that a host's Retry-After can impose on its sources.
NEWS_HOST_MAX_WAIT = env_int("NEWS_HOST_MAX_WAIT", 24 * 3600, minimum=1)
# A failing source waits NEWS_SOURCE_BACKOFF seconds, doubled per failure in a
# row up to NEWS_SOURCE_MAX_BACKOFF; it counts as broken after
# NEWS_SOURCE_MAX_FAILURES failures in a row.
NEWS_SOURCE_BACKOFF = env_int("NEWS_SOURCE_BACKOFF", 600, minimum=0)
NEWS_SOURCE_MAX_FAILURES = env_int("NEWS_SOURCE_MAX_FAILURES", 10, minimum=1)
NEWS_SOURCE_MAX_BACKOFF = env_int("NEWS_SOURCE_MAX_BACKOFF", 24 * 3600, minimum=0)
# Optional lookup of the publisher URL behind new-style Google News links.
NEWS_RESOLVE_GOOGLE_LINKS = env_bool("NEWS_RESOLVE_GOOGLE_LINKS", False)
NEWS_RESOLVE_ENDPOINT = env_str("NEWS_RESOLVE_ENDPOINT", "https://news.google.com")
NEWS_RESOLVE_TIMEOUT = env_float("NEWS_RESOLVE_TIMEOUT", 5.0, minimum=0.1)
NEWS_RESOLVE_MAX_PER_FETCH = env_int("NEWS_RESOLVE_MAX_PER_FETCH", 10, minimum=0)
NEWS_RESOLVE_INTERVAL = env_float("NEWS_RESOLVE_INTERVAL", 1.0, minimum=0.0)

# Triggering and scheduling.
NEWS_LOCK_TTL = env_int("NEWS_LOCK_TTL", 60, minimum=2)
NEWS_LOCK_PREFIX = env_str("NEWS_LOCK_PREFIX", "newsfetcher")
NEWS_JOB_TIMEOUT = RQ_QUEUES["default"]["DEFAULT_TIMEOUT"]
# A run with more sources than NEWS_FANOUT_THRESHOLD is split into RQ jobs of
# NEWS_FANOUT_BATCH_SIZE sources each, which any worker may take.
NEWS_FANOUT_THRESHOLD = env_int("NEWS_FANOUT_THRESHOLD", 200, minimum=0)
NEWS_FANOUT_BATCH_SIZE = env_int("NEWS_FANOUT_BATCH_SIZE", 50, minimum=1)
NEWS_FETCH_INTERVAL_MINUTES = env_int("NEWS_FETCH_INTERVAL_MINUTES", 30, minimum=1)
NEWS_TRIGGER_TOKEN = env_str("NEWS_TRIGGER_TOKEN")
# Lets a monitor read django-rq's queue statistics as JSON with this bearer token.
RQ_API_TOKEN = env_str("RQ_API_TOKEN")

# Health check (/healthz). Times are in seconds.
NEWS_HEALTH_TIMEOUT = env_float("NEWS_HEALTH_TIMEOUT", 2.0, minimum=0.1)
# An idle RQ worker (RQ 3.0, default worker TTL of 420 s) writes a heartbeat
# about every 405 s, so a shorter limit would report idle, healthy workers as failing.
NEWS_HEALTH_WORKER_MAX_AGE = env_int("NEWS_HEALTH_WORKER_MAX_AGE", 600, minimum=1)
# Three scheduled intervals: one late or failed run alone does not page anyone.
NEWS_HEALTH_RUN_MAX_AGE = env_int(
    "NEWS_HEALTH_RUN_MAX_AGE", 3 * NEWS_FETCH_INTERVAL_MINUTES * 60, minimum=1
)
