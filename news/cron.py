"""Schedule for django-rq's cron scheduler: `manage.py rqcron news.cron`.

RQ runs an interval job as soon as the scheduler starts and then every
interval, so `make run` starts a first fetch right away. Both jobs go to the
queue the worker serves, and the fetch itself goes through start_fetch().
"""

from django.conf import settings
from rq import cron

from news.jobs import reap_job, scheduled_fetch
from news.triggers import QUEUE_NAME

# Results of these bookkeeping jobs are of no use after a few minutes.
RESULT_TTL = 300

cron.register(
    scheduled_fetch,
    QUEUE_NAME,
    interval=settings.NEWS_FETCH_INTERVAL_MINUTES * 60,
    job_timeout=60,
    result_ttl=RESULT_TTL,
    name="news.scheduled_fetch",
)
# A killed worker stops extending the lock, which expires NEWS_LOCK_TTL
# seconds after its last heartbeat; this finds such runs without waiting for
# the next trigger.
cron.register(
    reap_job,
    QUEUE_NAME,
    interval=settings.NEWS_LOCK_TTL,
    job_timeout=60,
    result_ttl=RESULT_TTL,
    name="news.reap_abandoned_runs",
)
