"""The shared CJK PDF helper: fpdf2 documents that write Chinese in a font found on this system."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

__all__ = [
    "CJK_FAMILY",
    "KNOWN_CJK_FONTS",
    "CJKFont",
    "FontFace",
    "MissingCJKFont",
    "cjk_document",
    "find_cjk_font",
]

# The family name every document registers the font under: `pdf.set_font(CJK_FAMILY, "B", 14)`.
CJK_FAMILY = "cjk"

# Where Debian's packages put them, for a machine without fontconfig's `fc-list`.
# (path, index in the collection, bold path, bold index); index 2 of the Noto CJK collections
# is Simplified Chinese (SC), whose glyph shapes Chinese readers expect.
KNOWN_CJK_FONTS: tuple[tuple[str, int, str, int], ...] = (
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        2,
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        2,
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
        2,
        "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
        2,
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "", 0),
)

MISSING_FONT_ADVICE = (
    "No Chinese (CJK) font was found on this computer, so the PDF can't be made. "
    "Install one with `scripts/system-deps.sh fonts` (Debian: apt-get install fonts-noto-cjk) "
    "and try again."
)


class MissingCJKFont(Exception):
    """No usable CJK font on this system; the message says what to install."""


@dataclass(frozen=True)
class FontFace:
    """One font file, and which font inside it when it is a collection (.ttc)."""

    path: Path
    index: int = 0


@dataclass(frozen=True)
class CJKFont:
    """The regular and bold faces documents use; `bold` is the regular face when there is none."""

    regular: FontFace
    bold: FontFace


@functools.cache
def find_cjk_font() -> CJKFont:
    """The system's CJK font: fontconfig's choice for Chinese, else a known Debian path.

    Raises MissingCJKFont (with what to install) when there is none. Looked up once per process.
    """
    found = _from_fontconfig()
    if found is not None:
        return found
    return font_from_paths(KNOWN_CJK_FONTS)


def font_from_paths(candidates: Sequence[tuple[str, int, str, int]]) -> CJKFont:
    """The first candidate (path, index, bold path, bold index) whose regular file exists."""
    for path, index, bold_path, bold_index in candidates:
        regular = FontFace(Path(path), index)
        if not regular.path.is_file():
            continue
        bold = FontFace(Path(bold_path), bold_index) if bold_path else regular
        return CJKFont(regular, bold if bold.path.is_file() else regular)
    raise MissingCJKFont(MISSING_FONT_ADVICE)


# Preference among the fonts fontconfig lists for Chinese: a sans face reads best at the small
# sizes of labels and receipts; Simplified Chinese before the other CJK regions' shapes.
_FAMILY_PREFERENCE = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei")


def _from_fontconfig() -> CJKFont | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh-cn", "file", "index", "family", "style"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    faces: dict[tuple[str, str], FontFace] = {}
    for line in out.splitlines():
        face = _parse_fc_line(line)
        if face is None:
            continue
        font, families, styles = face
        # TrueType/OpenType only: fpdf2 can't embed bitmap or Type 1 fonts.
        if font.path.suffix.lower() not in (".ttf", ".ttc", ".otf"):
            continue
        for family in families:
            for style in styles:
                faces.setdefault((family, style), font)
    for family in _FAMILY_PREFERENCE:
        regular = faces.get((family, "Regular"))
        if regular is not None:
            return CJKFont(regular, faces.get((family, "Bold"), regular))
    for (_family, style), font in sorted(faces.items(), key=lambda kv: str(kv[0])):
        if style in ("Regular", "Book", "Medium"):
            return CJKFont(font, font)
    return None


def _parse_fc_line(line: str) -> tuple[FontFace, list[str], list[str]] | None:
    """One `fc-list` line, "PATH: FAMILY[,FAMILY]:style=STYLE[,STYLE]:index=N"."""
    path, sep, rest = line.partition(": ")
    if not sep:
        return None
    families: list[str] = []
    styles: list[str] = []
    index = 0
    for part in rest.split(":"):
        if part.startswith("style="):
            styles = part[len("style=") :].split(",")
        elif part.startswith("index="):
            try:
                index = int(part[len("index=") :])
            except ValueError:
                return None
        elif part:
            families = part.split(",")
    return FontFace(Path(path), index), families, styles


def cjk_document(
    *,
    orientation: str = "portrait",
    unit: str = "mm",
    page_format: str | tuple[float, float] = "A4",
) -> FPDF:
    """A new fpdf2 document with the CJK font registered as CJK_FAMILY (regular and "B") and set.

    Raises MissingCJKFont when the system has none. The caller adds pages and writes.
    """
    font = find_cjk_font()
    pdf = FPDF(orientation=orientation, unit=unit, format=page_format)
    pdf.add_font(CJK_FAMILY, "", str(font.regular.path), collection_font_number=font.regular.index)
    pdf.add_font(CJK_FAMILY, "B", str(font.bold.path), collection_font_number=font.bold.index)
    pdf.set_font(CJK_FAMILY, "", 11)
    return pdf
