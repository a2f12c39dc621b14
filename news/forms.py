"""The admin form that adds a feed by URL or builds a Google News feed from its parts."""

from django import forms
from django.utils.translation import gettext_lazy as _

from news import google_news, sources
from news.models import Source

# Google News editions an editor in Taiwan is likely to want, as the
# (hl, gl, ceid) triple that Google's own edition menu uses.
EDITIONS = {
    "TW": ("zh-TW", "TW", "TW:zh-Hant"),
    "HK": ("zh-HK", "HK", "HK:zh-Hant"),
    "CN": ("zh-CN", "CN", "CN:zh-Hans"),
    "JP": ("ja", "JP", "JP:ja"),
    "US": ("en-US", "US", "US:en"),
    "GB": ("en-GB", "GB", "GB:en"),
}
EDITION_CHOICES = [
    ("TW", _("Taiwan, Traditional Chinese")),
    ("HK", _("Hong Kong, Traditional Chinese")),
    ("CN", _("China, Simplified Chinese")),
    ("JP", _("Japan, Japanese")),
    ("US", _("United States, English")),
    ("GB", _("United Kingdom, English")),
    ("", _("Other: enter hl, gl and ceid below")),
]
SECTION_CHOICES = [
    ("", _("None, or a topic id below")),
    ("WORLD", _("World")),
    ("NATION", _("Nation")),
    ("BUSINESS", _("Business")),
    ("TECHNOLOGY", _("Technology")),
    ("ENTERTAINMENT", _("Entertainment")),
    ("SPORTS", _("Sports")),
    ("SCIENCE", _("Science")),
    ("HEALTH", _("Health")),
]


class SourceForm(forms.ModelForm):
    """Source form that checks a Google News source's parts and builds its URL from them.

    For a Google News source the URL field is ignored and rebuilt from the
    feed type, section or topic id, query, time window and edition.
    """

    url = forms.URLField(
        label=_("feed URL"),
        max_length=2000,
        required=False,
        assume_scheme="https",
        help_text=_("Only for RSS or Atom feeds. Google News URLs are built from the parts below."),
    )
    gn_section = forms.ChoiceField(
        label=_("section"),
        choices=SECTION_CHOICES,
        required=False,
        help_text=_("For a topic feed: pick a section, or leave it empty and enter a topic id."),
    )
    gn_edition = forms.ChoiceField(
        label=_("edition"),
        choices=EDITION_CHOICES,
        required=False,
        initial="TW",
        help_text=_("Sets the language (hl), region (gl) and edition (ceid) together."),
    )

    class Meta:
        model = Source
        fields = [
            "name", "kind", "enabled", "url", "gn_mode", "gn_topic", "gn_query",
            "gn_when", "gn_hl", "gn_gl", "gn_ceid",
        ]
        labels = {"gn_topic": _("topic id")}
        help_texts = {
            "gn_topic": _("A topic id copied from a Google News topic URL, such as CAAqJQgKIh9DQkFTRVFv."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.kind == Source.Kind.GOOGLE_NEWS:
            topic = self.instance.gn_topic.upper()
            if topic in google_news.SECTIONS:
                self.initial["gn_section"] = topic
                self.initial["gn_topic"] = ""
            triple = (self.instance.gn_hl, self.instance.gn_gl, self.instance.gn_ceid)
            self.initial["gn_edition"] = next(
                (code for code, parts in EDITIONS.items() if parts == triple), ""
            )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == Source.Kind.GOOGLE_NEWS:
            self._clean_google_news(cleaned)
        elif "url" not in self.errors:
            self._clean_feed_url(cleaned)
        return cleaned

    def _clean_feed_url(self, cleaned):
        url = cleaned.get("url")
        if not url:
            self.add_error("url", _("Enter the URL of the RSS or Atom feed."))
            return
        # The same checks as add_source, so both reject ftp:// and catch a
        # duplicate that differs only in the case of the scheme or host.
        url = sources.canonical_feed_url(url)
        try:
            sources.validate_feed_url(url)
        except sources.SourceError as exc:
            self.add_error("url", str(exc))
            return
        cleaned["url"] = url

    def _clean_google_news(self, cleaned):
        mode = cleaned.get("gn_mode") or Source.GoogleNewsMode.TOP_STORIES
        cleaned["gn_mode"] = mode
        query = cleaned.get("gn_query", "").strip()
        when = cleaned.get("gn_when", "").strip()
        topic = cleaned.get("gn_section") or cleaned.get("gn_topic", "").strip()
        edition = cleaned.get("gn_edition")
        if edition:
            cleaned["gn_hl"], cleaned["gn_gl"], cleaned["gn_ceid"] = EDITIONS[edition]

        if when and mode != Source.GoogleNewsMode.SEARCH:
            self.add_error("gn_when", _("A time window applies only to search feeds."))
        if when and not google_news.WHEN_PATTERN.match(when):
            self.add_error(
                "gn_when", _("Enter a number and a unit h, d, m or y, for example 1h, 1d or 7d.")
            )
        if mode == Source.GoogleNewsMode.SEARCH and not query:
            self.add_error("gn_query", _("A search feed needs a search query."))
        if mode == Source.GoogleNewsMode.GEO and not query:
            self.add_error("gn_query", _("A location feed needs a place name."))
        if mode == Source.GoogleNewsMode.TOPIC and not topic and "gn_topic" not in self.errors:
            # A topic id that failed its own field check already has an error.
            self.add_error("gn_section", _("A topic feed needs a section or a topic id."))
        if mode == Source.GoogleNewsMode.TOPIC and topic and not (
            topic.upper() in google_news.SECTIONS or google_news.TOPIC_ID_PATTERN.match(topic)
        ):
            self.add_error("gn_topic", _("This is not a topic id: copy it from a Google News topic URL."))
        if self.errors:
            return

        cleaned["gn_topic"] = topic if mode == Source.GoogleNewsMode.TOPIC else ""
        cleaned["gn_query"] = query if mode in (Source.GoogleNewsMode.SEARCH, Source.GoogleNewsMode.GEO) else ""
        cleaned["gn_when"] = when
        try:
            cleaned["url"] = google_news.build_url(
                mode,
                topic=cleaned["gn_topic"],
                query=cleaned["gn_query"],
                when=when,
                hl=cleaned.get("gn_hl") or google_news.DEFAULT_HL,
                gl=cleaned.get("gn_gl") or google_news.DEFAULT_GL,
                ceid=cleaned.get("gn_ceid") or google_news.DEFAULT_CEID,
            )
        except google_news.InvalidGoogleNewsQuery as exc:
            # The checks above cover the parts an editor picks. This catches
            # hand-typed hl, gl and ceid codes, in build_url's own words.
            self.add_error(None, str(exc))
            return
        built = Source(kind=Source.Kind.GOOGLE_NEWS, **{
            name: cleaned[name] for name in ("url", "gn_topic", "gn_query", "gn_when")
        })
        try:
            sources.validate_lengths(built)
        except sources.SourceError as exc:
            self.add_error(exc.field, str(exc))
            # An empty URL is left out of the model's own checks, which would
            # put a second length error on the feed URL field.
            cleaned["url"] = ""
