"""Log lines for a log collector: one line per event, with secrets masked.

`logging_config()` builds the LOGGING dictionary for Django and for gunicorn
(newsproject/gunicorn_conf.py). Both formatters mask, anywhere in the line
and in any traceback:

- the values of NEWS_TRIGGER_TOKEN, RQ_API_TOKEN, SECRET_KEY and its
  fallbacks, and the database and Redis passwords;
- the credentials after "Bearer" or "Basic", as in an Authorization header;
- the password in a URL of the form scheme://user:password@host.
"""

import datetime
import json
import logging
import os
import re
from urllib.parse import urlsplit

from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

MASK = "[redacted]"
# Masking a shorter value would also mask ordinary words in every line.
MIN_SECRET_LENGTH = 8

SECRET_SETTINGS = ("NEWS_TRIGGER_TOKEN", "RQ_API_TOKEN", "SECRET_KEY")
# Read when Django's settings are not loaded, as in the gunicorn master process.
SECRET_VARIABLES = ("NEWS_TRIGGER_TOKEN", "RQ_API_TOKEN", "DJANGO_SECRET_KEY")
URL_VARIABLES = ("DATABASE_URL", "REDIS_URL")

AUTHORIZATION_CREDENTIALS = re.compile(
    r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{%d,}" % MIN_SECRET_LENGTH, re.IGNORECASE
)
RUN_AND_SOURCE_IDS = re.compile(r"run (?P<run_id>\d+)(?: source (?P<source_id>\d+))?\b")
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)


def secret_values():
    """Return the configured secrets that are long enough to mask."""
    if settings.configured:
        values = [getattr(settings, name, "") for name in SECRET_SETTINGS]
        values += list(getattr(settings, "SECRET_KEY_FALLBACKS", []))
        values += [database.get("PASSWORD") for database in settings.DATABASES.values()]
        values.append(_url_password(getattr(settings, "REDIS_URL", "")))
    else:
        values = [os.environ.get(name, "") for name in SECRET_VARIABLES]
        values += [_url_password(os.environ.get(name, "")) for name in URL_VARIABLES]
    return {
        value for value in values if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH
    }


def _url_password(url):
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def redact(text):
    """Replace every known secret and credential in `text` with MASK."""
    # Longest first, so a secret that contains another is masked whole.
    for value in sorted(secret_values(), key=len, reverse=True):
        text = text.replace(value, MASK)
        # The JSON formatter escapes quotes, backslashes and non-ASCII text.
        escaped = json.dumps(value)[1:-1]
        if escaped != value:
            text = text.replace(escaped, MASK)
    text = AUTHORIZATION_CREDENTIALS.sub(rf"\1\2{MASK}", text)
    return URL_PASSWORD.sub(rf"\1{MASK}@", text)


def format_time(record):
    """Return the record's time in UTC as ISO 8601 with milliseconds.

    UTC, because Django sets the process time zone to TIME_ZONE in the web and
    worker processes but not in the gunicorn master.
    """
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


class SkipHealthCheckResponses(logging.Filter):
    """Drop django.request's line for each 503 from /healthz.

    Monitors poll /healthz every few seconds, and news.health already logs
    once when a part starts failing and once when it recovers.
    """

    def filter(self, record):
        request = getattr(record, "request", None)
        return not (
            record.name == "django.request" and getattr(request, "path", "") == "/healthz"
        )


class TextFormatter(logging.Formatter):
    """Time, level, logger and message on one line.

    Line breaks in a message or traceback are written as the two characters
    backslash and "n", so a collector that splits on newlines keeps the
    event whole.
    """

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record, datefmt=None):
        return format_time(record)

    def format(self, record):
        line = redact(super().format(record))
        return line.replace("\r", "\\r").replace("\n", "\\n")


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message and any extras.

    A message that starts with "run <id>" or "run <id> source <id>", as the
    fetch service's lines do, also gets the fields run_id and source_id, so
    a collector can filter on them.
    """

    def __init__(self):
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )

    def formatTime(self, record, datefmt=None):
        return format_time(record)

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        ids = RUN_AND_SOURCE_IDS.match(record.getMessage())
        if ids:
            log_data.setdefault("run_id", int(ids["run_id"]))
            if ids["source_id"]:
                log_data.setdefault("source_id", int(ids["source_id"]))

    def format(self, record):
        return redact(super().format(record))


FORMATTERS = {"text": TextFormatter, "json": JsonLineFormatter}


def logging_config(log_format, news_level="INFO", loggers=None):
    """Return a logging.config.dictConfig dictionary that writes to stderr.

    `log_format` is "text" or "json". `loggers` adds or replaces logger
    entries, and each of them sends its records to the root logger's handler.
    """
    extra_loggers = {
        name: {"handlers": [], "propagate": True, **options}
        for name, options in (loggers or {}).items()
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": FORMATTERS[log_format]}},
        "filters": {"skip_health_check_responses": {"()": SkipHealthCheckResponses}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["skip_health_check_responses"],
            }
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            # Django's default logging also prints django.* records to the
            # console when DEBUG is on. Clearing its handlers keeps one line
            # per event.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "news": {"level": news_level},
            **extra_loggers,
        },
    }
