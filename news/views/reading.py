"""The public reading page: the latest articles grouped by day."""

import itertools

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from news.article_search import PAGE_SIZE, ArticleQuery, InvalidArticleQuery, search_articles
from news.models import Source


@require_GET
def latest_articles(request):
    try:
        query = ArticleQuery.from_params(request.GET)
        error = ""
    except InvalidArticleQuery as exc:
        query = ArticleQuery()
        error = str(exc)

    page = Paginator(search_articles(query), PAGE_SIZE).get_page(request.GET.get("page"))
    days = [
        (day, list(articles))
        for day, articles in itertools.groupby(
            page.object_list, key=lambda article: timezone.localdate(article.shown_at)
        )
    ]
    filters = request.GET.copy()
    filters.pop("page", None)
    context = {
        "page": page,
        "days": days,
        "query": query,
        "error": error,
        "sources": Source.objects.only("id", "name").order_by("name"),
        "filter_query": filters.urlencode(),
    }
    return render(request, "news/latest_articles.html", context)
