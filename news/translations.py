"""Compile gettext catalogs with polib, so setup needs no GNU gettext tools."""

from pathlib import Path

import polib
from django.conf import settings


def catalog_paths():
    """Return every .po file under the project's LOCALE_PATHS."""
    paths = []
    for locale_dir in settings.LOCALE_PATHS:
        paths.extend(sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")))
    return paths


def compile_catalog(po_path):
    """Write the .mo beside `po_path` unless it is newer, and return True when written.

    Fuzzy entries are left out, as msgfmt does, so a guessed translation
    never reaches a page.
    """
    po_path = Path(po_path)
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        return False
    catalog = polib.pofile(str(po_path))
    for entry in catalog.fuzzy_entries():
        catalog.remove(entry)
    catalog.save_as_mofile(str(mo_path))
    return True
