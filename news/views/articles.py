"""GET /api/articles/: the stored articles as JSON, filtered and paginated."""

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from news.article_search import PAGE_SIZE, ArticleQuery, InvalidArticleQuery, search_articles


@require_GET
def article_list(request):
    try:
        query = ArticleQuery.from_params(request.GET)
    except InvalidArticleQuery as exc:
        return JsonResponse({"error": str(exc)}, status=400)

    paginator = Paginator(search_articles(query), PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except PageNotAnInteger:
        return JsonResponse(
            {"error": _("page=%(value)s is invalid: give a whole number from 1.")
             % {"value": request.GET.get("page")}},
            status=400,
        )
    except EmptyPage:
        return JsonResponse(
            {"error": _("Page %(page)s does not exist; the last page is %(last)d.")
             % {"page": request.GET.get("page"), "last": paginator.num_pages}},
            status=404,
        )

    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": _page_url(request, page.next_page_number()) if page.has_next() else None,
            "previous": (
                _page_url(request, page.previous_page_number()) if page.has_previous() else None
            ),
            "results": [_article_json(article) for article in page.object_list],
        },
        json_dumps_params={"ensure_ascii": False},
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
