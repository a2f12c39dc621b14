"""URLs of the blocking variant: every project URL, plus POST /bench/blocking-fetch/."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from news.fetching import create_run, run_fetch
from news.models import FetchRun
from newsproject.urls import urlpatterns as project_urlpatterns


@csrf_exempt
@require_POST
def blocking_fetch(request):
    """Run a whole fetch inside the request and return the finished run."""
    run = run_fetch(create_run(FetchRun.Trigger.HTTP))
    return JsonResponse({"id": run.pk, "status": run.status})


urlpatterns = [path("bench/blocking-fetch/", blocking_fetch), *project_urlpatterns]
