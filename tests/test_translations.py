import os
import re
import shutil
import subprocess
import sys

import polib
import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.conftest import REPO_ROOT

CATALOG = REPO_ROOT / "news" / "locale" / "zh_Hant" / "LC_MESSAGES" / "django.po"


def entry_key(entry):
    return (entry.msgctxt, entry.msgid, entry.msgid_plural)


def is_translated(entry):
    if entry.msgid_plural:
        return bool(entry.msgstr_plural) and all(entry.msgstr_plural.values())
    return bool(entry.msgstr)


def test_catalog_has_no_empty_entries():
    catalog = polib.pofile(str(CATALOG))
    empty = [entry.msgid for entry in catalog if not entry.obsolete and not is_translated(entry)]
    assert empty == []


def test_catalog_has_no_duplicate_entries():
    # *.po files merge with merge=union, which keeps both sides of a string
    # that two branches translated, and msgfmt rejects such a catalog.
    polib.pofile(str(CATALOG), check_for_duplicates=True)


def test_catalog_has_no_fuzzy_entries():
    catalog = polib.pofile(str(CATALOG))
    assert [entry.msgid for entry in catalog.fuzzy_entries()] == []
    assert not catalog.metadata_is_fuzzy


def test_catalog_placeholders_match_source():
    catalog = polib.pofile(str(CATALOG))
    for entry in catalog.translated_entries():
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for translation in translations:
            assert _placeholders(translation) == _placeholders(entry.msgid_plural or entry.msgid), entry.msgid


def _placeholders(text):
    return sorted(re.findall(r"%\([a-z_]+\)[-+ 0-9.]*[sdfr]|\{\{ *[a-z_]+ *\}\}", text))


@pytest.mark.skipif(
    shutil.which("xgettext") is None,
    reason="GNU gettext (xgettext) is not installed, so strings cannot be extracted; "
    "install the gettext package to run this check",
)
def test_catalog_contains_every_project_string(tmp_path):
    """makemessages on a copy of the code adds nothing to and removes nothing from the catalog."""
    for name in ("news", "newsproject"):
        shutil.copytree(
            REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
        )
    shutil.copy(REPO_ROOT / "manage.py", tmp_path)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "newsproject.settings",
        "DJANGO_DEBUG": "1",
        "NEWS_VAR_DIR": str(tmp_path / "var"),
    }
    subprocess.run(
        [
            sys.executable, "manage.py", "makemessages", "-l", "zh_Hant", "--no-location",
            "--no-obsolete", "--ignore=var",
        ],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120,
    )

    current = {entry_key(entry) for entry in polib.pofile(str(CATALOG)) if not entry.obsolete}
    extracted = polib.pofile(str(tmp_path / CATALOG.relative_to(REPO_ROOT)))
    extracted_keys = {entry_key(entry) for entry in extracted}
    assert sorted(extracted_keys - current, key=str) == [], "strings missing from django.po"
    assert sorted(current - extracted_keys, key=str) == [], "strings in django.po no longer in the code"


def test_compile_translations_writes_mo_without_gettext(tmp_path):
    messages_dir = tmp_path / "zh_Hant" / "LC_MESSAGES"
    messages_dir.mkdir(parents=True)
    shutil.copy(CATALOG, messages_dir / "django.po")
    with override_settings(LOCALE_PATHS=[tmp_path]):
        call_command("compile_translations", "--force", verbosity=0)
    compiled = polib.mofile(str(messages_dir / "django.mo"))
    assert compiled.find("Fetch now").msgstr == "立即抓取"
