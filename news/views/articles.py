"""GET /api/articles/: the stored articles as JSON, filtered and paginated."""

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from news.article_search import PAGE_SIZE, ArticleQuery, InvalidArticleQuery, search_articles
from news.views.api import error_response, json_response, method_not_allowed

ALLOWED_METHODS = ["GET", "HEAD"]


# Exempt so that a POST gets the JSON 405 below: the CSRF check would
# otherwise reject it first with a 403. The view never changes data.
@csrf_exempt
def article_list(request):
    if request.method not in ALLOWED_METHODS:
        return method_not_allowed(request, ALLOWED_METHODS)
    try:
        query = ArticleQuery.from_params(request.GET)
    except InvalidArticleQuery as exc:
        return error_response(400, exc)

    paginator = Paginator(search_articles(query), PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except PageNotAnInteger:
        return error_response(
            400,
            _("page=%(value)s is invalid: give a whole number from 1.")
            % {"value": request.GET.get("page")},
        )
    except EmptyPage:
        return error_response(
            404,
            _("Page %(page)s does not exist; the last page is %(last)d.")
            % {"page": request.GET.get("page"), "last": paginator.num_pages},
        )

    return json_response(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
            "previous": (
                _page_url(request, page.previous_page_number()) if page.has_previous() else None
            ),
            "results": [_article_json(article) for article in page.object_list],
        }
    )


def _page_url(request, number):
    params = request.GET.copy()
    params["page"] = number
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


def _article_json(article):
    return {
        "id": article.pk,
        "title": article.title,
        "link": article.link,
        "publisher": article.publisher_name,
        "publisher_url": article.publisher_url,
        "summary": article.summary,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "first_seen_at": article.first_seen_at.isoformat(),
        "sources": [{"id": source.pk, "name": source.name} for source in article.sources.all()],
    }
