"""The idle screen's boards in real Chromium at 1024x768 and 1080x1920, Chinese and English, from boards the central made."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from central.db import make_central_session_factory, open_central_engine
from central.reports.base import LibraryCalendar
from central.reports.boards import idle_boards
from db.engine import make_engine, make_session_factory
from db.models import Title
from kiosk.circulation.schoolyear import SchoolCalendar
from kiosk.services import state
from kiosk.sync.boards import BOARDS_KEY
from tests.central.report_history import build_history

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "boards"
BOOKS = [
    "小王子",
    "草房子",
    "西游记",
    "夏洛的网",
    "窗边的小豆豆",
    "青铜葵花",
    "城南旧事",
    "稻草人",
    "海底两万里",
    "昆虫记",
    "安徒生童话",
    "没头脑和不高兴",
]


def boards_document(tmp_path: Path) -> dict[str, Any]:
    """Boards made by the central's own code from a known history."""
    import json

    engine = open_central_engine(str(tmp_path / "central.sqlite3"))
    factory = make_central_session_factory(engine)
    with factory.begin() as s:
        history = build_history(s, loans=900, students_per_class=8)
        for (title_id, _), name in zip(sorted(history.title_names.items()), BOOKS, strict=False):
            s.execute(
                update(Title)
                .where(Title.id == title_id)
                .values(title=name, author="曹文轩" if "草" in name else "佚名")
            )
    with factory() as s:
        document = idle_boards(
            s, LibraryCalendar(SchoolCalendar(), ZoneInfo("Asia/Shanghai")), dt.date(2026, 12, 20)
        )
    engine.dispose()
    return json.loads(json.dumps(document))


def store(kiosk_database: Path, document: dict[str, Any]) -> None:
    import json

    engine = make_engine(kiosk_database)
    with make_session_factory(engine).begin() as s:
        state.set_state(s, BOARDS_KEY, json.dumps(document, ensure_ascii=False))
    engine.dispose()


def assert_fits(page: Any, height: int) -> None:
    """Steps, hint and board all on screen between the top bar and the bottom bar, no scrolling."""
    top = page.locator("header.topbar").bounding_box()
    steps = page.locator(".steps").bounding_box()
    card = page.locator("#boards .board").bounding_box()
    bottom = page.locator("footer.bottombar").bounding_box()
    assert top and steps and card and bottom
    assert steps["y"] >= top["y"] + top["height"]
    assert card["y"] >= steps["y"] + steps["height"]
    assert card["y"] + card["height"] <= bottom["y"]
    assert page.locator("#screen-idle").evaluate("s => s.scrollTop") == 0


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (1080, 1920)])
def test_idle_screen_shows_the_boards(
    chromium: Any, start_kiosk: Any, tmp_path: Path, width: int, height: int
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    kiosk = start_kiosk()
    document = boards_document(tmp_path)
    store(kiosk.directory / "kiosk.sqlite3", document)
    # Reduced motion: the screenshot shows the board itself, not its fade-in.
    context = chromium.new_context(
        viewport={"width": width, "height": height}, reduced_motion="reduce"
    )
    page = context.new_page()
    page.set_default_timeout(10000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # The page's own clock, so the slow rotation can be moved along.
    page.clock.install()
    try:
        page.goto(kiosk.url)
        page.locator("#boards .board").wait_for(state="attached")
        assert page.locator("#boards .board-dots .dot").count() == 3
        assert page.locator("#boards .board-title").inner_text() == "新书通报" or height < 1100
        board = page.locator("#boards .board")
        if height < 1100:
            # A 1024x768 screen has no empty space: the two steps keep it, the boards stay away.
            assert not board.is_visible()
        else:
            board.wait_for()
            assert_fits(page, height)
            shown = page.locator("#boards .board-row")
            assert shown.count() == len(document["new_books"]["rows"]) > 0
        page.screenshot(path=SCREENSHOTS / f"idle-boards-zh-{width}x{height}.png")
        for kind, title in (("popular", "好书借阅排行榜"), ("classes", "书香班级")):
            page.clock.fast_forward(16_000)
            page.locator(f"#boards .board-{kind}").wait_for(state="attached")
            assert page.locator("#boards .board-title").inner_text() == title
            if height >= 1100:
                assert_fits(page, height)
            page.screenshot(path=SCREENSHOTS / f"idle-boards-{kind}-zh-{width}x{height}.png")
        page.click("#lang-toggle")
        page.locator("#boards .board-title", has_text="Reading classes").wait_for(state="attached")
        page.screenshot(path=SCREENSHOTS / f"idle-boards-en-{width}x{height}.png")
    finally:
        context.close()
    assert not errors, errors
