from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from news import google_news


class SourceQuerySet(models.QuerySet):
    def broken(self):
        """Sources that failed NEWS_SOURCE_MAX_FAILURES times or more in a row."""
        return self.filter(consecutive_failures__gte=settings.NEWS_SOURCE_MAX_FAILURES)


def guid_scope_of(url):
    """Return the lower-case host name of `url`, or "" when it has none."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


class Source(models.Model):
    class Kind(models.TextChoices):
        GOOGLE_NEWS = "google_news", _("Google News")
        FEED = "feed", _("RSS or Atom feed")

    class GoogleNewsMode(models.TextChoices):
        TOP_STORIES = "top", _("Top stories")
        TOPIC = "topic", _("Topic")
        SEARCH = "search", _("Search")
        GEO = "geo", _("Location")

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.FEED)
    url = models.URLField(
        _("feed URL"),
        max_length=2000,
        unique=True,
        help_text=_("Built from the query parts for Google News sources."),
    )
    gn_mode = models.CharField(
        _("Google News feed"),
        max_length=10,
        choices=GoogleNewsMode.choices,
        blank=True,
    )
    gn_topic = models.CharField(
        _("topic"),
        max_length=100,
        blank=True,
        help_text=_("A section name such as BUSINESS, or a topic id."),
    )
    gn_query = models.CharField(
        _("search query or location"), max_length=500, blank=True
    )
    gn_when = models.CharField(
        _("time window"),
        max_length=10,
        blank=True,
        help_text=_("Only for searches, for example 1h, 1d or 7d."),
    )
    gn_hl = models.CharField(_("language (hl)"), max_length=20, blank=True)
    gn_gl = models.CharField(_("region (gl)"), max_length=10, blank=True)
    gn_ceid = models.CharField(_("edition (ceid)"), max_length=30, blank=True)

    # The host that scopes this source's guids in Article.identity, set from
    # the first URL and kept when the feed moves, so a redirect to another
    # host name does not store every article again.
    guid_scope = models.CharField(_("guid scope"), max_length=255, blank=True, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Validators from the last 200 response, sent back as a conditional GET.
    etag = models.CharField(_("ETag"), max_length=500, blank=True)
    last_modified = models.CharField(_("Last-Modified"), max_length=100, blank=True)

    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    last_error_code = models.CharField(_("last error code"), max_length=30, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Earliest time the next fetch may run, pushed back after each failure.
    next_fetch_after = models.DateTimeField(_("next fetch after"), null=True, blank=True)

    objects = SourceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("source")
        verbose_name_plural = _("sources")

    def __str__(self):
        return self.name

    @property
    def is_broken(self):
        """True after NEWS_SOURCE_MAX_FAILURES failures in a row, until a success resets it."""
        return self.consecutive_failures >= settings.NEWS_SOURCE_MAX_FAILURES

    def save(self, *args, **kwargs):
        if self.kind == self.Kind.GOOGLE_NEWS:
            self.url = self.build_google_news_url()
        if not self.guid_scope:
            self.guid_scope = guid_scope_of(self.url)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "guid_scope"}
        super().save(*args, **kwargs)

    def build_google_news_url(self):
        return google_news.build_url(
            mode=self.gn_mode or self.GoogleNewsMode.TOP_STORIES,
            topic=self.gn_topic,
            query=self.gn_query,
            when=self.gn_when,
            hl=self.gn_hl or google_news.DEFAULT_HL,
            gl=self.gn_gl or google_news.DEFAULT_GL,
            ceid=self.gn_ceid or google_news.DEFAULT_CEID,
        )


class Article(models.Model):
    # `identity` is the deduplication key: a SHA-256 over the first of these
    # that the entry has:
    #   1. the feed host and the entry's guid (a guid is unique only within
    #      its publisher, so a bare "1" from two blogs must not merge; every
    #      Google News feed shares one host, so a story seen through two
    #      Google News sources is one article);
    #   2. the link without tracking parameters, plus the title (feeds
    #      without guids sometimes point every item at the same page);
    #   3. the title and summary text.
    # The unique constraint makes re-runs and concurrent runs idempotent.
    identity = models.CharField(_("identity"), max_length=64, unique=True, editable=False)
    guid = models.CharField(_("guid"), max_length=1000, blank=True)
    title = models.CharField(_("title"), max_length=1000, blank=True)
    link = models.URLField(_("link"), max_length=2000, blank=True)
    publisher_name = models.CharField(_("publisher"), max_length=300, blank=True)
    publisher_url = models.URLField(_("publisher URL"), max_length=2000, blank=True)
    # The publisher's own article URL behind a Google News link, decoded from
    # the link or resolved over the network (news.resolve). Empty when unknown.
    original_url = models.URLField(_("original URL"), max_length=2000, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    first_run = models.ForeignKey(
        "FetchRun",
        verbose_name=_("first fetched in"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sources = models.ManyToManyField(
        Source, verbose_name=_("sources"), related_name="articles", blank=True
    )

    class Meta:
        ordering = ["-published_at", "-first_seen_at"]
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        indexes = [
            models.Index(fields=["-published_at"], name="article_published_idx"),
            models.Index(fields=["-first_seen_at"], name="article_first_seen_idx"),
        ]

    def __str__(self):
        return self.title or self.link or self.identity


class FetchRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        PARTIALLY_FAILED = "partially_failed", _("Partially failed")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned")

    class Trigger(models.TextChoices):
        COMMAND = "command", _("Command")
        HTTP = "http", _("HTTP")
        ADMIN = "admin", _("Admin")
        SCHEDULE = "schedule", _("Schedule")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # True: every source enabled when the run starts. False: only
    # requested_sources, which may become empty when they are deleted.
    all_sources = models.BooleanField(_("all enabled sources"), default=True)
    requested_sources = models.ManyToManyField(
        Source, verbose_name=_("requested sources"), related_name="+", blank=True
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Updated by the running job on each heartbeat; an abandoned run keeps the
    # time its worker was last seen alive.
    heartbeat_at = models.DateTimeField(_("last seen alive"), null=True, blank=True)
    worker_name = models.CharField(_("worker"), max_length=200, blank=True)
    job_id = models.CharField(_("job id"), max_length=100, blank=True)

    sources_total = models.PositiveIntegerField(_("sources"), default=0)
    sources_succeeded = models.PositiveIntegerField(_("sources succeeded"), default=0)
    sources_failed = models.PositiveIntegerField(_("sources failed"), default=0)
    sources_skipped = models.PositiveIntegerField(_("sources skipped"), default=0)
    entries_seen = models.PositiveIntegerField(_("entries seen"), default=0)
    articles_created = models.PositiveIntegerField(_("articles created"), default=0)
    articles_updated = models.PositiveIntegerField(_("articles updated"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("fetch run")
        verbose_name_plural = _("fetch runs")
        permissions = [("start_fetch", _("Can start a fetch"))]
        indexes = [models.Index(fields=["status"], name="fetchrun_status_idx")]

    def __str__(self):
        return _("Fetch run #%(id)s") % {"id": self.pk}

    def get_absolute_url(self):
        return reverse("admin:news_fetchrun_change", args=[self.pk])

    @property
    def is_active(self):
        return self.status in self.ACTIVE_STATUSES

    @property
    def sources_done(self):
        return self.sources_succeeded + self.sources_failed + self.sources_skipped

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class ErrorCode(models.TextChoices):
    """Reason a source failed, from a small fixed set that the admin can filter on."""

    TIMEOUT = "timeout", _("Timed out")
    CONNECTION_REFUSED = "connection_refused", _("Connection refused")
    CONNECTION_ERROR = "connection_error", _("Connection error")
    DNS_FAILURE = "dns_failure", _("DNS failure")
    TLS_ERROR = "tls_error", _("TLS error")
    HTTP_STATUS = "http_status", _("HTTP error status")
    TOO_LARGE = "too_large", _("Response too large")
    NOT_A_FEED = "not_a_feed", _("Not a feed")
    BLOCKED_ADDRESS = "blocked_address", _("Blocked address")
    INVALID_URL = "invalid_url", _("Invalid URL")
    PARSE_ERROR = "parse_error", _("Parse error")
    INTERNAL_ERROR = "internal_error", _("Internal error")


class SourceResult(models.Model):
    """The outcome of one source within one fetch run."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        UNCHANGED = "unchanged", _("Not modified")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(
        FetchRun, verbose_name=_("fetch run"), on_delete=models.CASCADE, related_name="results"
    )
    source = models.ForeignKey(
        Source,
        verbose_name=_("source"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="results",
    )
    # Kept so the result still reads right after the source is renamed or deleted.
    source_name = models.CharField(_("source name"), max_length=200)
    url = models.URLField(_("URL"), max_length=2000)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    error_code = models.CharField(
        _("error code"), max_length=30, choices=ErrorCode.choices, blank=True
    )
    error_message = models.TextField(_("error"), blank=True)
    warning = models.TextField(_("warning"), blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    entries_seen = models.PositiveIntegerField(_("entries seen"), default=0)
    articles_created = models.PositiveIntegerField(_("articles created"), default=0)
    articles_updated = models.PositiveIntegerField(_("articles updated"), default=0)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["run", "source_name"]
        verbose_name = _("source result")
        verbose_name_plural = _("source results")
        constraints = [
            models.UniqueConstraint(fields=["run", "source"], name="one_result_per_source_per_run")
        ]

    def __str__(self):
        return f"{self.source_name}: {self.get_status_display()}"
