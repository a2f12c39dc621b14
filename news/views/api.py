"""JSON responses shared by every /api/ view: one body shape, one encoding.

Every error body is {"error": "<message in the active language>"} and every
body keeps non-ASCII text as UTF-8 instead of \\u escapes.
"""

from django.http import JsonResponse
from django.middleware import csrf
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

API_PREFIX = "/api/"

# Django's CSRF rejection reasons (django.middleware.csrf, Django 5.2) are
# English constants. Those that carry no request data map to a translation
# here, and the rest get CSRF_GENERIC_REASON.
CSRF_REASONS = {
    csrf.REASON_NO_CSRF_COOKIE: gettext_lazy(
        "the CSRF cookie is missing. Load a page of this site first, or send "
        "Authorization: Bearer <token>."
    ),
    csrf.REASON_CSRF_TOKEN_MISSING: gettext_lazy(
        "the X-CSRFToken header is missing. Send it with the value of the csrftoken cookie."
    ),
    csrf.REASON_NO_REFERER: gettext_lazy(
        "the HTTPS request has no Referer header. Allow the browser to send it."
    ),
    csrf.REASON_MALFORMED_REFERER: gettext_lazy("the Referer header is malformed."),
    csrf.REASON_INSECURE_REFERER: gettext_lazy(
        "the Referer header is an http:// page but the request is HTTPS."
    ),
}
BAD_ORIGIN_REASON = gettext_lazy(
    "the Origin header does not match this site. Add the origin to DJANGO_CSRF_TRUSTED_ORIGINS."
)
CSRF_GENERIC_REASON = gettext_lazy(
    "the CSRF token or the request's origin is invalid. Reload the page and try again."
)


def json_response(data, status=200, **kwargs):
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False}, **kwargs)


def error_response(status, message, **extra):
    response = json_response({"error": str(message), **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="news"'
    return response


def method_not_allowed(request, allowed):
    response = error_response(
        405,
        _("Method %(method)s is not allowed here. Use %(allowed)s.")
        % {"method": request.method, "allowed": ", ".join(allowed)},
    )
    response["Allow"] = ", ".join(allowed)
    return response


def csrf_failure_message(reason):
    """Return a translated sentence for one of Django's English CSRF rejection reasons."""
    if reason in CSRF_REASONS:
        translated = CSRF_REASONS[reason]
    elif reason.startswith(csrf.REASON_BAD_ORIGIN.partition("%s")[0]):
        translated = BAD_ORIGIN_REASON
    else:
        translated = CSRF_GENERIC_REASON
    return _("CSRF check failed: %(reason)s") % {"reason": translated}


def is_api_request(request):
    return request.path.startswith(API_PREFIX)
