"""The kiosk's gettext catalogs: compile them when stale and hand out translations by language.

Flask-free on purpose: the event stream renders sentences after Flask has torn its request
down, where Flask-Babel would quietly fall back to English.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
# The kiosk speaks these; msgids are English, so "en" needs no catalog.
LANGUAGES = ("zh", "en")


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every `<lang>/LC_MESSAGES/messages.po` whose .mo is missing or older.

    Returns the .mo files written. The .mo files are build products (not in git); compiling
    here means a fresh checkout, `make run` and the tests can never show a stale catalog.
    A read-only install logs a warning and keeps whatever .mo it has.
    """
    written = []
    for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        try:
            _compile(po_path, mo_path)
        except OSError as exc:
            log.warning(
                "cannot compile %s (%s); run: pybabel compile -d %s", po_path, exc, directory
            )
            continue
        written.append(mo_path)
    return written


def _compile(po_path: Path, mo_path: Path) -> None:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=po_path.parents[1].name)
    # Write beside the target and rename, so a second process starting at the same moment
    # never loads a half-written catalog.
    fd, tmp_name = tempfile.mkstemp(dir=po_path.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp_name, mo_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog for `language` (English falls through to the msgids)."""
    compile_catalogs()
    return Translations.load(str(TRANSLATIONS_DIR), [language], DOMAIN)
