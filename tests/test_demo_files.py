"""demo_fetch on feed folders that a user may point DEMO_FEEDS at."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from news.models import Article, Source
from tests.feedserver import item, rss


def run_demo(folder, language="en"):
    out = StringIO()
    with translation.override(language):
        call_command("demo_fetch", str(folder), stdout=out)
    return out.getvalue()


def test_demo_fetch_serves_file_name_with_space(db, tmp_path):
    # A space in the file name must not make an invalid source URL and a traceback.
    (tmp_path / "台灣 新聞.xml").write_bytes(rss(item("s1", "示範新聞")))
    run_demo(tmp_path)
    assert Article.objects.count() == 1


def test_demo_fetch_in_two_languages_reuses_its_source(db, tmp_path):
    # The source name is translated, so the demo must not look its sources up by name.
    (tmp_path / "taiwan.xml").write_bytes(rss(item("t1", "示範新聞")))
    run_demo(tmp_path, language="en")
    run_demo(tmp_path, language="zh-hant")
    assert Source.objects.count() == 1
