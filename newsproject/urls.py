from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from news.views.health import healthz

urlpatterns = [
    # Outside the language prefixes and exempt from the HTTPS redirect, so a
    # load balancer can probe one fixed URL over plain HTTP.
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-rq/", include("django_rq.urls")),
    path("", include("news.urls")),
]
urlpatterns += i18n_patterns(
    path("admin/", admin.site.urls),
    prefix_default_language=False,
)
