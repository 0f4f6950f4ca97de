"""The label page walked in real Chromium, Chinese and English, at 1366x768 and 1920x1080: a
librarian previews a half-used sheet, downloads the labels and a class's cards, and both scan back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.auth import add_user
from central.labels import LAYOUTS, place
from tests.browser.central_server import served_central, sign_in
from tests.central.conftest import CentralDB
from tests.central.console_support import PASSWORD
from tests.central.label_support import seed_label_library
from tests.central.test_labels import decoded_positions, rasterise
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}
MADE_UP = ["G8753669293", "GB8753669293", "GEN0000001"]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[str]:
    """A central with the demo library and a catalogue whose copies got made-up barcodes, a
    librarian; served on a free port by a thread."""
    clock = FakeClock()
    school = {"name": "书香市第一实验小学", "short_name": "书香一小"}
    with served_central(tmp_path, clock, school=school) as central:
        seed_label_library(
            CentralDB("sqlite", str(tmp_path / "central.sqlite3"), central.engine, central.factory),
            clock,
            tmp_path,
        )
        with central.factory.begin() as s:
            add_user(s, "liu", PASSWORD, "librarian", clock())
        yield central.url


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SCREENSHOTS / f"console-labels-{name}-{size}.png", full_page=True)


def download(page: Any, tmp_path: Path, name: str) -> bytes:
    # Making the PDF loads the CJK font (a second or more on a busy machine); the click itself
    # starts a download, not a page, so it need not wait for one.
    with page.expect_download(timeout=60_000) as info:
        page.click("form.labels-form button.primary", no_wait_after=True)
    path = tmp_path / name
    info.value.save_as(path)
    return path.read_bytes()


def keep_png(pdf: bytes, tmp_path: Path, name: str) -> list[Any]:
    """The PDF's pages as images (for the decoder), the first kept in screenshots/ to look at."""
    folder = tmp_path / name
    folder.mkdir()
    pages = rasterise(pdf, folder)
    pages[0].save(SCREENSHOTS / f"labels-{name}.png")
    return pages


def test_a_librarian_prints_labels_on_a_half_used_sheet_and_a_classs_cards(
    page: Any, central: str, tmp_path: Path
):
    base = central
    sign_in(page, base, "liu", "/labels")
    assert page.locator("nav ul.pages").get_by_text("标签").count() == 1
    assert page.locator("h1").inner_text() == "打印图书标签和借书证"
    shoot(page, "form-zh")

    # Copies that need labels, on a 3x10 sheet whose first six labels are gone.
    page.check("input[name=what][value=needing]")
    page.check("input[name=kind][value=accession]")
    page.select_option("select[name=layout]", "a4-3x10")
    page.fill("input[name=start]", "7")
    page.click("form.labels-form button:not(.primary)")
    page.wait_for_selector("section.preview")
    assert "共 3 个标签，需要 1 张" in page.locator("p.summary").inner_text()
    assert page.locator("ol.sheet li.used").count() == 6
    assert page.locator("ol.sheet li.print").count() == 3
    shoot(page, "preview-zh")
    layout = LAYOUTS["a4-3x10"]
    pages = keep_png(download(page, tmp_path, "labels.pdf"), tmp_path, "sheet")
    expected = {(p.sheet, p.position): b for p, b in zip(place(layout, 3, 7), MADE_UP, strict=True)}
    assert decoded_positions(pages, layout) == expected

    # A class's cards, in English this time.
    page.goto(f"{base}/labels?lang=en")
    page.check("input[name=what][value=class]")
    page.select_option("select[name=class_key]", "3-2")
    page.fill("input[name=start]", "1")
    page.click("form.labels-form button:not(.primary)")
    page.wait_for_selector("section.preview")
    assert "2 cards on 1 sheet of A4 2×5" in page.locator("p.summary").inner_text()
    assert "张小明" in page.locator("table.label-list").inner_text()
    assert "csrf_token" not in page.url
    shoot(page, "cards-en")
    pages = keep_png(download(page, tmp_path, "cards.pdf"), tmp_path, "cards")
    found = decoded_positions(pages, LAYOUTS["cards-cr80"])
    assert found == {(0, 1): "20260001", (0, 2): "20260002"}

    # A start position off the sheet is refused in words, in the page's language.
    page.goto(f"{base}/labels?lang=zh")
    page.fill("input[name=start]", "40")
    page.click("form.labels-form button:not(.primary)")
    assert "起始序号应在 1 到 30 之间" in page.locator("ul.problems").inner_text()
    shoot(page, "refused-zh")
