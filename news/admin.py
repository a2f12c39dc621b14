from django.contrib import admin

from news.models import Article, FetchRun, Source, SourceResult


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "url", "enabled", "last_success_at", "consecutive_failures",
                    "last_error_code", "last_error"]
    list_filter = ["kind", "enabled", "last_error_code"]
    # Sources with the most failures in a row come first, so broken ones lead.
    ordering = ["-consecutive_failures", "name"]
    search_fields = ["name", "url"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "publisher_name", "published_at", "first_seen_at"]
    search_fields = ["title", "summary", "publisher_name"]
    date_hierarchy = "published_at"


class SourceResultInline(admin.TabularInline):
    model = SourceResult
    extra = 0
    can_delete = False
    fields = ["source_name", "status", "error_code", "error_message", "warning",
              "entries_seen", "articles_created", "articles_updated"]
    readonly_fields = fields


@admin.register(FetchRun)
class FetchRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "trigger", "requested_by", "created_at", "finished_at",
                    "sources_succeeded", "sources_failed", "articles_created"]
    list_filter = ["status", "trigger"]
    inlines = [SourceResultInline]
