"""Health of what a deployment needs: the database, Redis, RQ workers and recent runs.

`check_health()` turns each database or Redis error into a Check with
ok=False and a short message that is safe to show to anyone. The exception
behind it goes to the log once each time that part starts failing in this
process, because /healthz is public and is polled every few seconds.
"""

import logging
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.translation import gettext as _
from rq import Worker

from news.models import FetchRun

logger = logging.getLogger(__name__)

# Runs that stored news from at least one source.
SUCCESSFUL_STATUSES = (FetchRun.Status.SUCCEEDED, FetchRun.Status.PARTIALLY_FAILED)

# Names of the parts that failed on the previous call in this process.
_failing_before = set()


@dataclass
class Check:
    ok: bool
    # Shown in the response, so it names no host, user or internal error.
    error: str = ""
    details: dict = field(default_factory=dict)
    # The exception behind a failure, for the log only.
    cause: BaseException | None = None

    def as_dict(self):
        data = {"ok": self.ok, **self.details}
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class HealthReport:
    checks: dict

    @property
    def healthy(self):
        return all(check.ok for check in self.checks.values())

    @property
    def failing(self):
        return [name for name, check in self.checks.items() if not check.ok]

    def as_dict(self):
        return {
            "status": "ok" if self.healthy else "failing",
            "failing": self.failing,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


def check_health():
    """Check every part and return a HealthReport, logging each part that starts or stops failing."""
    connection_to_redis = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.NEWS_HEALTH_TIMEOUT,
        socket_timeout=settings.NEWS_HEALTH_TIMEOUT,
    )
    try:
        redis_check = check_redis(connection_to_redis)
        if redis_check.ok:
            workers = check_workers(connection_to_redis)
        else:
            workers = Check(False, _("Cannot read the RQ workers because Redis is unreachable."))
    finally:
        connection_to_redis.close()

    database = check_database()
    if database.ok:
        last_run = check_last_run()
    else:
        last_run = Check(
            False, _("Cannot read the fetch runs because the database is unreachable.")
        )

    report = HealthReport(
        {"database": database, "redis": redis_check, "workers": workers, "last_run": last_run}
    )
    _log_changes(report)
    return report


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Check(False, _("The database query failed."), cause=exc)
    return Check(True)


def check_redis(connection_to_redis):
    try:
        connection_to_redis.ping()
    except (redis.RedisError, OSError) as exc:
        return Check(False, _("Redis did not answer a ping."), cause=exc)
    return Check(True)


def check_workers(connection_to_redis):
    """Check that some RQ worker sent a heartbeat within NEWS_HEALTH_WORKER_MAX_AGE."""
    max_age = settings.NEWS_HEALTH_WORKER_MAX_AGE
    try:
        workers = Worker.all(connection=connection_to_redis)
    except (redis.RedisError, OSError) as exc:
        return Check(False, _("Reading the RQ workers from Redis failed."), cause=exc)

    heartbeats = [worker.last_heartbeat for worker in workers if worker.last_heartbeat]
    details = {"count": len(workers), "max_age_seconds": max_age}
    if not heartbeats:
        return Check(False, _("No RQ worker is registered."), details)

    age = _age_seconds(max(heartbeats))
    details["newest_heartbeat_age_seconds"] = age
    return _check_age(
        age,
        max_age,
        _("The newest RQ worker heartbeat is %(age)d seconds old (limit %(max_age)d)."),
        details,
    )


def check_last_run():
    """Check that a run ended succeeded or partially failed within NEWS_HEALTH_RUN_MAX_AGE."""
    max_age = settings.NEWS_HEALTH_RUN_MAX_AGE
    details = {"max_age_seconds": max_age}
    try:
        run = (
            FetchRun.objects.filter(status__in=SUCCESSFUL_STATUSES, finished_at__isnull=False)
            .order_by("-finished_at")
            .only("pk", "status", "finished_at")
            .first()
        )
    except DatabaseError as exc:
        return Check(False, _("Reading the fetch runs failed."), details, cause=exc)

    if run is None:
        return Check(False, _("No fetch run has succeeded yet."), details)

    age = _age_seconds(run.finished_at)
    details.update({"run_id": run.pk, "status": run.status, "age_seconds": age})
    return _check_age(
        age,
        max_age,
        _("The last successful fetch run ended %(age)d seconds ago (limit %(max_age)d)."),
        details,
    )


def _check_age(age, max_age, message, details):
    """Pass when `age` is at most `max_age`, or else fail with `message` filled in."""
    if age > max_age:
        return Check(False, message % {"age": age, "max_age": max_age}, details)
    return Check(True, details=details)


def _age_seconds(moment):
    # Both RQ (3.0) and the database return aware datetimes.
    return max(0, round((timezone.now() - moment).total_seconds()))


def _log_changes(report):
    failing = set(report.failing)
    for name in sorted(failing - _failing_before):
        check = report.checks[name]
        logger.warning(
            "health: %s started failing: %s",
            name,
            check.cause or check.details,
            exc_info=check.cause,
        )
    for name in sorted(_failing_before - failing):
        logger.info("health: %s recovered", name)
    _failing_before.clear()
    _failing_before.update(failing)
