from django.contrib import admin
from django.urls import include, path

from news.views import errors
from news.views.articles import article_list
from news.views.health import healthz
from news.views.reading import latest_articles

# No language prefixes: LocaleMiddleware picks the language from the switcher's
# cookie, then Accept-Language, then LANGUAGE_CODE (zh-hant). With
# i18n_patterns(prefix_default_language=False) it would ignore both and always
# serve LANGUAGE_CODE on unprefixed paths.
urlpatterns = [
    # Exempt from the HTTPS redirect, so a load balancer can probe one fixed
    # URL over plain HTTP.
    path("healthz", healthz, name="healthz"),
    path("", latest_articles, name="latest_articles"),
    path("api/articles/", article_list, name="api_article_list"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-rq/", include("django_rq.urls")),
    path("", include("news.urls")),
]

handler404 = errors.page_not_found
handler500 = errors.server_error
