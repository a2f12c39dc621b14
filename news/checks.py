"""System checks for a deployment across several machines (`check --deploy`)."""

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def check_shared_services(app_configs, **kwargs):
    """Warn when the database or Redis is the single-machine default."""
    warnings = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        warnings.append(
            Warning(
                "The database is the SQLite file on this machine, which RQ workers on "
                "other machines cannot open.",
                hint="Set DATABASE_URL to a shared PostgreSQL database.",
                id="news.W001",
            )
        )
    if settings.REDIS_URL == f"unix://{settings.EMBEDDED_REDIS_SOCKET}":
        warnings.append(
            Warning(
                "REDIS_URL is not set, so the queue and the fetch lock live in the "
                "embedded Redis on this machine's Unix socket.",
                hint="Set REDIS_URL to a Redis server that every machine can reach.",
                id="news.W002",
            )
        )
    return warnings
