from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from news.health import check_health
from news.views.api import json_response


@never_cache
@require_safe
def healthz(request):
    """Report the health of every part as JSON: 200 when all pass, 503 otherwise."""
    report = check_health()
    return json_response(report.as_dict(), status=200 if report.healthy else 503)
