"""JSON API to start a fetch run and read its progress.

POST /api/fetch-runs/ starts a run; GET /api/fetch-runs/<id>/ returns one.
Callers authenticate with `Authorization: Bearer <NEWS_TRIGGER_TOKEN>`, or
with a staff session (CSRF checked) and the model permission the endpoint needs.
"""

import hmac
import logging

from django.conf import settings
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from news.models import FetchRun
from news.triggers import AlreadyRunning, QueueUnavailable, start_fetch
from news.views.api import csrf_failure_message, error_response, json_response, method_not_allowed

logger = logging.getLogger(__name__)

START_PERMISSION = "news.start_fetch"
VIEW_PERMISSIONS = ("news.view_fetchrun", "news.start_fetch")


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        # Return the reason instead of Django's HTML 403 page.
        return reason


class AuthenticationFailed(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def authenticate(request, permissions):
    """Return the user behind the request (None for the token), or raise AuthenticationFailed.

    A session user needs is_staff and any one of `permissions`.
    """
    header = request.headers.get("Authorization", "")
    if header:
        _check_token(request, header)
        return None

    user = request.user
    if not user.is_authenticated:
        raise AuthenticationFailed(
            401, _("Authentication required: log in as staff, or send Authorization: Bearer <token>.")
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check = _CsrfCheck(lambda request: None)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise AuthenticationFailed(403, csrf_failure_message(reason))
    if not (user.is_staff and any(user.has_perm(permission) for permission in permissions)):
        raise AuthenticationFailed(
            403,
            _("User %(user)s lacks the permission %(permission)s.")
            % {"user": user.get_username(), "permission": " / ".join(permissions)},
        )
    return user


def _check_token(request, header):
    scheme, _sep, token = header.partition(" ")
    expected = settings.NEWS_TRIGGER_TOKEN
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(401, _("The Authorization header must be: Bearer <token>."))
    if not expected:
        raise AuthenticationFailed(401, _("Token access is off: NEWS_TRIGGER_TOKEN is not set."))
    # compare_digest takes as long for a near miss as for a wild guess.
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        # The token itself is never logged.
        logger.warning("rejected an invalid bearer token from %s", request.META.get("REMOTE_ADDR"))
        raise AuthenticationFailed(401, _("Invalid token."))


def run_url(request, run):
    return request.build_absolute_uri(reverse("news:fetch-run-detail", args=[run.pk]))


def run_summary(request, run):
    return {"id": run.pk, "status": run.status, "url": run_url(request, run)}


@csrf_exempt
def fetch_run_list(request):
    """Start a run: 202 with its URL, 409 while one is active, 503 when Redis is down."""
    if request.method != "POST":
        return method_not_allowed(request, ["POST"])
    try:
        user = authenticate(request, [START_PERMISSION])
    except AuthenticationFailed as exc:
        return error_response(exc.status, exc.message)

    try:
        run = start_fetch(FetchRun.Trigger.HTTP, user=user)
    except AlreadyRunning as exc:
        return error_response(
            409,
            _("Fetch run #%(id)s is already %(status)s.")
            % {"id": exc.run.pk, "status": exc.run.get_status_display()},
            active_run=run_summary(request, exc.run),
        )
    except QueueUnavailable as exc:
        extra = {"run": run_summary(request, exc.run)} if exc.run is not None else {}
        return error_response(503, str(exc), **extra)

    response = json_response(run_summary(request, run), status=202)
    response["Location"] = run_url(request, run)
    return response


@csrf_exempt
def fetch_run_detail(request, run_id):
    """Return a run as JSON: status, times, counts and one result per source."""
    if request.method != "GET":
        return method_not_allowed(request, ["GET"])
    try:
        authenticate(request, VIEW_PERMISSIONS)
    except AuthenticationFailed as exc:
        return error_response(exc.status, exc.message)

    run = FetchRun.objects.filter(pk=run_id).first()
    if run is None:
        return error_response(404, _("Fetch run #%(id)s was not found.") % {"id": run_id})
    return json_response(run_as_dict(request, run))


def run_as_dict(request, run):
    results = run.results.order_by("source_name")
    return {
        **run_summary(request, run),
        "status_display": str(run.get_status_display()),
        "trigger": run.trigger,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "heartbeat_at": run.heartbeat_at,
        "worker": run.worker_name,
        "job_id": run.job_id,
        "sources_total": run.sources_total,
        "sources_succeeded": run.sources_succeeded,
        "sources_failed": run.sources_failed,
        "sources_skipped": run.sources_skipped,
        "entries_seen": run.entries_seen,
        "articles_created": run.articles_created,
        "articles_updated": run.articles_updated,
        "error": run.error,
        "results": [
            {
                "source_id": result.source_id,
                "source_name": result.source_name,
                "url": result.url,
                "status": result.status,
                "error_code": result.error_code,
                "error_message": result.error_message,
                "warning": result.warning,
                "http_status": result.http_status,
                "entries_seen": result.entries_seen,
                "articles_created": result.articles_created,
                "articles_updated": result.articles_updated,
                "started_at": result.started_at,
                "finished_at": result.finished_at,
            }
            for result in results
        ],
    }
