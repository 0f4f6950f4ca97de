"""The shared CJK PDF helper: the font is found on the system, and Chinese written reads back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from central.pdf import (
    CJK_FAMILY,
    KNOWN_CJK_FONTS,
    MissingCJKFont,
    cjk_document,
    find_cjk_font,
    font_from_paths,
)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The text of a PDF as poppler's pdftotext reads it (scripts/system-deps.sh pdf)."""
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext missing: run scripts/system-deps.sh pdf"
    path = tmp_path / "read.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return out.stdout.decode("utf-8")


def test_the_system_cjk_font_is_found_and_is_a_font_file() -> None:
    font = find_cjk_font()
    assert font.regular.path.is_file()
    assert font.bold.path.is_file()
    assert font.regular.path.suffix.lower() in (".ttf", ".ttc", ".otf")


def test_chinese_written_in_regular_and_bold_reads_back(tmp_path: Path) -> None:
    pdf = cjk_document()
    pdf.add_page()
    pdf.set_font(CJK_FAMILY, "B", 16)
    pdf.cell(text="遗失赔偿 书香小学")
    pdf.ln()
    pdf.set_font(CJK_FAMILY, "", 11)
    pdf.cell(text="《草房子》 李华 三年级2班 ¥25.00 Receipt")
    text = pdf_text(bytes(pdf.output()), tmp_path)
    assert "遗失赔偿 书香小学" in text
    assert "《草房子》 李华 三年级2班" in text
    assert "Receipt" in text


def test_no_cjk_font_is_a_clear_error_naming_what_to_install(tmp_path: Path) -> None:
    absent = str(tmp_path / "NoSuchFont.ttc")
    with pytest.raises(MissingCJKFont, match=r"system-deps\.sh fonts"):
        font_from_paths([(absent, 0, "", 0)])


def test_a_known_path_without_a_bold_file_uses_the_regular_face_for_bold() -> None:
    regular = next(path for path, *_ in KNOWN_CJK_FONTS if Path(path).is_file())
    font = font_from_paths([(regular, 2, "/nonexistent/Bold.ttc", 2)])
    assert font.bold == font.regular
    assert font.regular.index == 2
