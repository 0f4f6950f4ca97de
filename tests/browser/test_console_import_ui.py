"""The console's import walked in real Chromium: sign in, upload an .xlsx roster, dry run, confirm."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from central.auth import add_user
from db.models import Patron
from tests.browser.central_server import served_central, sign_in
from tests.central.console_support import PASSWORD
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The central app on a real SQLite file, served on a free port by a thread."""
    with served_central(tmp_path, FakeClock()) as central:
        with central.factory.begin() as s:
            add_user(s, "liu", PASSWORD, "librarian", central.clock())
        yield central.url, central.factory


def roster(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["书香小学学生名单"])
    ws.append(["学号", "卡号", "姓名", "班级"])
    ws.append(["S1", 20260001, "张小明", "三年级二班"])
    ws.append(["S2", 20260002.0, "欧阳娜娜", "四年级一班"])
    ws.append(["S3", "2026 0003", "王䶮", "五年级三班"])
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


def patrons(factory: Any) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Patron)) or 0


def test_librarian_uploads_a_roster_sees_the_dry_run_and_confirms(
    page: Any, central: tuple[str, Any], tmp_path: Path
):
    base, factory = central
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, base, "liu", "/imports")
    page.check("input[name=kind][value=students]")
    page.set_input_files("input[name=file]", str(roster(tmp_path / "名单.xlsx")))
    page.screenshot(path=SCREENSHOTS / "console-import-upload.png", full_page=True)
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("text=试运行结果")
    table = page.inner_text("table.outcomes")
    assert "将新增" in table and "2" in table
    assert "名单.xlsx line 5: 卡号 (card) contains spaces" in page.inner_text("ul.problems")
    page.screenshot(path=SCREENSHOTS / "console-import-dry-run.png", full_page=True)
    assert patrons(factory) == 0
    page.click("button.primary")
    page.wait_for_selector("text=导入完成")
    assert "名单.xlsx line 5" in page.inner_text("ul.problems")
    page.screenshot(path=SCREENSHOTS / "console-import-result.png", full_page=True)
    assert patrons(factory) == 2
