"""A superuser can delete an active fetch run from the admin, which the README calls read-only.

Deleting the run that holds the fetch lock makes the lock look stale, so
the next trigger releases it and starts a second run while the first
worker is still fetching.
"""

from django.urls import reverse
from django.utils import timezone

from news import locking
from news.models import FetchRun


def test_admin_keeps_active_run_on_delete(client, superuser, fetch_queue):
    run = FetchRun.objects.create(
        trigger=FetchRun.Trigger.HTTP,
        status=FetchRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        worker_name="工作者-1",
    )
    locking.acquire(run.pk)
    client.force_login(superuser)

    client.post(reverse("admin:news_fetchrun_delete", args=[run.pk]), {"post": "yes"})

    assert FetchRun.objects.filter(pk=run.pk).exists()

