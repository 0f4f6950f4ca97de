"""Gettext catalogs (the kiosk's, and the console's union of files): compile when stale, load.

Flask-free on purpose: the event stream renders sentences after Flask has torn its request
down, where Flask-Babel would quietly fall back to English.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
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


def compile_merged_catalogs(
    directory: Path, domain: str, first: tuple[str, ...] = ()
) -> list[Path]:
    """Compile every `<lang>/LC_MESSAGES/*.po` of `directory` into one `<domain>.mo` per language.

    Several teams each keep their own .po file and the app loads their union. Returns the .mo
    files written (only where a .po is newer than the .mo, or a .po was added or removed). When
    two files translate the same msgid differently, the first file wins — those named in
    `first`, then the rest in name order — and the clash is logged (a word that means something
    else in one place wants a msgctxt there).
    """
    written = []
    for folder in sorted({p.parent for p in directory.glob("*/LC_MESSAGES/*.po")}):
        po_paths = sorted(
            folder.glob("*.po"),
            key=lambda p: (first.index(p.name) if p.name in first else len(first), p.name),
        )
        mo_path = folder / f"{domain}.mo"
        # Which files the .mo was made of: a .po added or removed also means a rebuild.
        listing = folder / f"{domain}.mo.sources"
        names = "\n".join(p.name for p in po_paths)
        if (
            mo_path.exists()
            and _read_text(listing) == names
            and all(mo_path.stat().st_mtime >= p.stat().st_mtime for p in po_paths)
        ):
            continue
        try:
            _write_mo(_merged(po_paths, folder.parent.name), mo_path)
            listing.write_text(names, encoding="utf-8")
        except OSError as exc:
            log.warning("cannot compile the catalogs in %s (%s)", folder, exc)
            continue
        written.append(mo_path)
    return written


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _merged(po_paths: list[Path], locale: str) -> Catalog:
    merged = Catalog(locale=locale)
    for po_path in po_paths:
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        for message in catalog:
            if not message.id:
                continue  # the header
            held = merged.get(message.id, message.context)
            if held is None:
                merged[message.id] = message
            elif held.string != message.string:
                log.warning(
                    "%s translates %r differently from an earlier catalog; the first one is used",
                    po_path.name,
                    message.id,
                )
    return merged


def _compile(po_path: Path, mo_path: Path) -> None:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=po_path.parents[1].name)
    _write_mo(catalog, mo_path)


def _write_mo(catalog: Catalog, mo_path: Path) -> None:
    # Write beside the target and rename, so a second process starting at the same moment
    # never loads a half-written catalog.
    fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
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
