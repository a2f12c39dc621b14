"""Error pages: JSON under /api/, translated HTML elsewhere."""

from django.utils.translation import gettext as _
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from news.views.api import csrf_failure_message, error_response, is_api_request


def page_not_found(request, exception):
    if is_api_request(request):
        return error_response(
            404, _("%(path)s was not found. Check the URL and the id in it.") % {"path": request.path}
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api_request(request):
        return error_response(
            500, _("The server failed to handle this request. Try again later.")
        )
    return defaults.server_error(request)


def csrf_failure(request, reason=""):
    if is_api_request(request):
        return error_response(403, csrf_failure_message(reason))
    return django_csrf_failure(request, reason=reason)
