import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import F
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from news import locking
from news.admin_lookups import CheckedLookupsMixin
from news.charts import build_run_chart, recent_runs
from news.forms import SourceForm
from news.models import Article, ErrorCode, FetchRun, Source, SourceResult
from news.sources import NO_ENABLED_SOURCES_MESSAGE
from news.triggers import AlreadyRunning, QueueUnavailable, release_stale_lock, start_fetch

logger = logging.getLogger(__name__)

admin.site.site_header = gettext_lazy("News fetcher administration")
admin.site.site_title = gettext_lazy("News fetcher")
admin.site.index_title = gettext_lazy("Sources, articles and fetch runs")

START_FETCH_PERMISSION = "news.start_fetch"


def start_fetch_from_admin(request, sources=None):
    """Start a fetch for `request.user`, report the outcome as a message and return the run.

    Returns None when nothing was queued, because another run is active or
    the queue cannot be reached. The message links to the run in both the
    queued and the already-running case.
    """
    try:
        run = start_fetch(FetchRun.Trigger.ADMIN, user=request.user, sources=sources)
    except AlreadyRunning as exc:
        messages.warning(
            request,
            _with_run_link(
                _("A fetch is already running: %(run)s. Wait for it to finish, then try again."),
                exc.run,
            ),
        )
        return None
    except QueueUnavailable as exc:
        messages.error(
            request,
            _("The fetch could not be queued: %(error)s. Check that Redis is running.")
            % {"error": exc},
        )
        return None
    messages.success(
        request, _with_run_link(_("%(run)s was queued. Its page shows the progress."), run)
    )
    if sources is None and not Source.objects.filter(enabled=True).exists():
        messages.warning(request, NO_ENABLED_SOURCES_MESSAGE)
    return run


def _with_run_link(text, run):
    link = format_html('<a href="{}">{}</a>', run.get_absolute_url(), str(run))
    return mark_safe(conditional_escape(text) % {"run": link})


def _local_datetime(value):
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def format_duration(duration):
    """Return a timedelta as "12.3 s" or "2 min 05 s", or "" for None."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 60:
        return _("%(seconds).1f s") % {"seconds": seconds}
    minutes, rest = divmod(int(seconds), 60)
    return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}


def status_label(status, text):
    """Return a coloured label for a run or result status, styled by news/admin.css."""
    return format_html('<span class="news-status news-status-{}">{}</span>', status, text)


@admin.register(Source)
class SourceAdmin(CheckedLookupsMixin, admin.ModelAdmin):
    form = SourceForm
    list_display = [
        "name", "kind", "feed_link", "enabled", "last_success_at", "last_failure",
        "consecutive_failures",
    ]
    list_filter = ["kind", "enabled", "last_error_code"]
    # Sources with the most failures in a row come first, so broken ones lead.
    ordering = ["-consecutive_failures", "name"]
    search_fields = ["name", "url", "gn_query"]
    actions = ["enable_sources", "disable_sources", "fetch_sources"]
    readonly_fields = [
        "last_success_at", "last_failure_at", "consecutive_failures", "last_error_code",
        "last_error", "next_fetch_after", "etag", "last_modified", "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled"]}),
        (gettext_lazy("RSS or Atom feed"), {"fields": ["url"]}),
        (
            gettext_lazy("Google News"),
            {
                "fields": ["gn_mode", "gn_section", "gn_topic", "gn_query", "gn_when", "gn_edition"],
                "description": gettext_lazy(
                    "Pick the feed type and fill in its parts; the feed URL is built for you."
                ),
            },
        ),
        (
            gettext_lazy("Google News language and region codes"),
            {
                "fields": ["gn_hl", "gn_gl", "gn_ceid"],
                "classes": ["collapse"],
                "description": gettext_lazy("Used only when the edition is set to Other."),
            },
        ),
        (
            gettext_lazy("Fetch status"),
            {"fields": readonly_fields, "classes": ["collapse"]},
        ),
    ]

    @admin.display(description=gettext_lazy("feed URL"), ordering="url")
    def feed_link(self, source):
        return format_html(
            '<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', source.url, source.url
        )

    @admin.display(description=gettext_lazy("last failure"), ordering="last_failure_at")
    def last_failure(self, source):
        if source.last_failure_at is None:
            return ""
        return format_html(
            '{}<div class="news-error" title="{}">{}</div>',
            _local_datetime(source.last_failure_at),
            source.last_error,
            _error_summary(source.last_error_code, source.last_error),
        )

    @admin.action(description=gettext_lazy("Enable selected sources"), permissions=["change"])
    def enable_sources(self, request, queryset):
        count = queryset.update(enabled=True)
        message = ngettext("%(count)d source enabled.", "%(count)d sources enabled.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Disable selected sources"), permissions=["change"])
    def disable_sources(self, request, queryset):
        count = queryset.update(enabled=False)
        message = ngettext("%(count)d source disabled.", "%(count)d sources disabled.", count)
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Fetch selected sources"), permissions=["start_fetch"])
    def fetch_sources(self, request, queryset):
        run = start_fetch_from_admin(request, sources=list(queryset))
        if run is not None:
            return HttpResponseRedirect(run.get_absolute_url())
        return None

    def has_start_fetch_permission(self, request):
        return request.user.has_perm(START_FETCH_PERMISSION)


def _lock_context(request):
    """Return the template context that describes who holds the fetch lock.

    A Redis outage is shown on the page instead of failing it, so the run
    history stays readable while the queue is down.
    """
    try:
        holder = locking.lock_holder()
    except RedisError as exc:
        logger.warning("admin failed to read the fetch lock for user %s: %s", request.user.pk, exc)
        return {"lock_error": str(exc)}
    context = {"lock_holder": holder, "can_release_lock": request.user.is_superuser}
    if holder is not None:
        context["lock_run_url"] = reverse("admin:news_fetchrun_change", args=[holder.run_id])
    return context


def _error_summary(code, message):
    if not code:
        return message[:120]
    label = ErrorCode(code).label if code in ErrorCode.values else code
    return _("%(label)s: %(message)s") % {"label": label, "message": message[:120]}


def fetch_now_context(request):
    return {
        "can_start_fetch": request.user.has_perm(START_FETCH_PERMISSION),
        "fetch_now_url": reverse("admin:news_fetchrun_fetch_now"),
    }


class FetchNowMixin:
    """Admin mixin that passes `can_start_fetch` and the Fetch now URL to the change list."""

    def changelist_view(self, request, extra_context=None):
        extra_context = {**fetch_now_context(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Article)
class ArticleAdmin(CheckedLookupsMixin, FetchNowMixin, admin.ModelAdmin):
    list_display = [
        "title_link", "publisher_name", "source_names", "published_at", "first_seen_at",
        "detail_link",
    ]
    list_display_links = ["detail_link"]
    list_filter = ["sources", "publisher_name", "published_at"]
    search_fields = ["title", "summary", "publisher_name"]
    date_hierarchy = "published_at"
    ordering = [F("published_at").desc(nulls_last=True), "-first_seen_at"]
    readonly_fields = ["identity", "first_seen_at", "last_seen_at", "first_run"]
    filter_horizontal = ["sources"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("sources")

    @admin.display(description=gettext_lazy("title"), ordering="title")
    def title_link(self, article):
        if not article.link:
            return article.title
        return format_html(
            '<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>',
            article.link,
            article.title or article.link,
        )

    @admin.display(description=gettext_lazy("sources"))
    def source_names(self, article):
        return "、".join(source.name for source in article.sources.all())

    @admin.display(description=gettext_lazy("details"))
    def detail_link(self, article):
        return _("View")

    def has_add_permission(self, request):
        # Articles come from feeds, keyed by an identity that only the fetch
        # service computes, so they are not written by hand.
        return False



class SourceResultInline(admin.TabularInline):
    model = SourceResult
    extra = 0
    can_delete = False
    fields = [
        "source_name", "result_status", "error", "http_status", "entries_seen",
        "articles_created", "articles_updated", "warning",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # The results are part of their run, so a user who may view the run may view them.
        return request.user.has_perm("news.view_fetchrun")

    @admin.display(description=gettext_lazy("status"))
    def result_status(self, result):
        return status_label(result.status, result.get_status_display())

    @admin.display(description=gettext_lazy("error"))
    def error(self, result):
        if not result.error_code and not result.error_message:
            return ""
        return format_html(
            '<code>{}</code> {}<div class="news-error">{}</div>',
            result.error_code,
            result.get_error_code_display(),
            result.error_message,
        )


@admin.register(FetchRun)
class FetchRunAdmin(CheckedLookupsMixin, FetchNowMixin, admin.ModelAdmin):
    list_display = [
        "run_number", "run_status", "trigger", "requested_by", "created_at", "run_duration",
        "progress", "articles_created",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["requested_by"]
    date_hierarchy = "created_at"
    # get_absolute_url is this admin page, so "View on site" would loop back.
    view_on_site = False
    inlines = [SourceResultInline]
    fieldsets = [
        (None, {"fields": ["run_status", "progress", "trigger", "requested_by", "requested_source_names"]}),
        (
            gettext_lazy("Times"),
            {"fields": ["created_at", "started_at", "finished_at", "run_duration", "heartbeat_at"]},
        ),
        (
            gettext_lazy("Counts"),
            {
                "fields": [
                    "sources_total", "sources_succeeded", "sources_failed", "sources_skipped",
                    "entries_seen", "articles_created", "articles_updated",
                ]
            },
        ),
        (gettext_lazy("Worker"), {"fields": ["worker_name", "job_id", "error"]}),
    ]
    readonly_fields = [
        "run_status", "progress", "trigger", "requested_by", "requested_source_names",
        "created_at", "started_at", "finished_at", "run_duration", "heartbeat_at",
        "sources_total", "sources_succeeded", "sources_failed", "sources_skipped",
        "entries_seen", "articles_created", "articles_updated", "worker_name", "job_id", "error",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # An active run holds the fetch lock. Without its row the next trigger
        # would take the lock as stale and start a second run beside it.
        # delete_selected calls this for each run, so it keeps active runs too.
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self):
        return [
            path(
                "fetch-now/",
                self.admin_site.admin_view(require_POST(self.fetch_now_view)),
                name="news_fetchrun_fetch_now",
            ),
            path(
                "release-lock/",
                self.admin_site.admin_view(require_POST(self.release_lock_view)),
                name="news_fetchrun_release_lock",
            ),
            *super().get_urls(),
        ]

    def fetch_now_view(self, request):
        """Start a fetch of every enabled source, then show the new run or go back."""
        if not request.user.has_perm(START_FETCH_PERMISSION):
            raise PermissionDenied
        run = start_fetch_from_admin(request)
        if run is not None:
            return redirect(run.get_absolute_url())
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:news_fetchrun_changelist")
        return redirect(next_url)

    def release_lock_view(self, request):
        """Release the fetch lock of a dead run (superusers only), then show the run list."""
        try:
            holder = locking.lock_holder()
            released = release_stale_lock(request.user)
        except RedisError as exc:
            logger.warning("user %s failed to release the fetch lock: %s", request.user.pk, exc)
            messages.error(
                request,
                _("Redis could not be reached (%(error)s). Check that it is running, then try again.")
                % {"error": exc},
            )
            return redirect("admin:news_fetchrun_changelist")
        if released:
            messages.success(
                request,
                _("The fetch lock of run #%(id)s was released.") % {"id": holder.run_id},
            )
        else:
            messages.warning(
                request,
                _("The fetch lock was not released: it is free, or its run is still alive."),
            )
        return redirect("admin:news_fetchrun_changelist")

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **_lock_context(request),
            "chart": build_run_chart(recent_runs()),
            "refresh_seconds": self._refresh_seconds(
                FetchRun.objects.filter(status__in=FetchRun.ACTIVE_STATUSES).exists()
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = {
            **fetch_now_context(request),
            **_lock_context(request),
            "refresh_seconds": self._refresh_seconds(run is not None and run.is_active),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    @staticmethod
    def _refresh_seconds(active):
        # The page reloads itself while a run is queued or running, so an
        # editor watches the progress without pressing reload.
        return 2 if active else None

    @admin.display(description=gettext_lazy("fetch run"), ordering="id")
    def run_number(self, run):
        return f"#{run.pk}"

    @admin.display(description=gettext_lazy("status"), ordering="status")
    def run_status(self, run):
        return status_label(run.status, run.get_status_display())

    @admin.display(description=gettext_lazy("duration"))
    def run_duration(self, run):
        if run.is_active and run.started_at:
            return format_duration(timezone.now() - run.started_at)
        return format_duration(run.duration)

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, run):
        if not run.sources_total:
            return ""
        if not run.is_active:
            return f"{run.sources_done}／{run.sources_total}"
        text = _("%(done)d of %(total)d sources") % {
            "done": run.sources_done,
            "total": run.sources_total,
        }
        return format_html(
            '<progress max="{}" value="{}"></progress> {}', run.sources_total, run.sources_done, text
        )

    @admin.display(description=gettext_lazy("requested sources"))
    def requested_source_names(self, run):
        if run.all_sources:
            return _("All enabled sources")
        names = [source.name for source in run.requested_sources.all()]
        return "、".join(names) if names else _("None: the requested sources were deleted")
