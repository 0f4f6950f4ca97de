"""Console imports: upload, dry run (nothing written), confirm, result; size limit; CSRF."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from central.auth import add_user
from central.views.forms import UPLOAD_MAX_BYTES
from db.models import Patron, Title
from tests.central.conftest import CentralDB
from tests.conftest import FakeClock

PASSWORD = "correct horse battery"


@pytest.fixture
def signed_in(client: FlaskClient, central_db: CentralDB, clock: FakeClock) -> FlaskClient:
    with central_db.factory.begin() as s:
        add_user(s, "liu", PASSWORD, "librarian", clock())
    token = csrf(client, "/login")
    r = client.post("/login", data={"username": "liu", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    return client


def csrf(client: FlaskClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def roster_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["学号", "卡号", "姓名", "班级"])
    ws.append(["S1", 20260001, "张小明", "三年级二班"])
    ws.append(["S2", 20260002.0, "欧阳娜娜", "四年级一班"])
    ws.append(["S3", "2026 0003", "王䶮", "五年级三班"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def count(central_db: CentralDB, model: type) -> int:
    with central_db.factory() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def upload(client: FlaskClient, data: bytes, name: str, kind: str = "students"):
    token = csrf(client, "/imports")
    return client.post(
        "/imports",
        data={"csrf_token": token, "kind": kind, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_roster_upload_dry_run_confirm_and_result(signed_in: FlaskClient, central_db: CentralDB):
    r = upload(signed_in, roster_xlsx(), "roster.xlsx")
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page
    assert "试运行结果" in page and "尚未写入任何数据" in page
    assert "<th>将新增</th><td>2</td>" in page
    assert "roster.xlsx line 4: 卡号 (card) contains spaces — row skipped" in page
    assert count(central_db, Patron) == 0
    upload_id = re.search(r'name="upload" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = signed_in.post("/imports/confirm", data={"csrf_token": token, "upload": upload_id})
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page
    assert "导入完成" in page and "<th>新增</th><td>2</td>" in page
    assert "roster.xlsx line 4" in page
    assert count(central_db, Patron) == 2
    # The file was used up: confirming twice imports nothing more and says why.
    r = signed_in.post("/imports/confirm", data={"csrf_token": token, "upload": upload_id})
    assert r.status_code == 400 and "找不到上传的文件" in r.get_data(as_text=True)
    assert count(central_db, Patron) == 2


def test_catalogue_upload_lists_copies_that_need_labels(
    signed_in: FlaskClient, central_db: CentralDB
):
    csv = "题名,作者,出版社,出版年,统一书号\n林海雪原,曲波,人民文学出版社,1957,10019·3152\n"
    r = upload(signed_in, csv.encode(), "old.csv", kind="catalog")
    page = r.get_data(as_text=True)
    assert "1 册复本将获得新的登录号条码" in page
    assert count(central_db, Title) == 0
    upload_id = re.search(r'name="upload" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    page = signed_in.post(
        "/imports/confirm", data={"csrf_token": token, "upload": upload_id}
    ).get_data(as_text=True)
    assert "需要贴标签的复本" in page and re.search(r"<td>GEN\d{7}</td><td>林海雪原</td>", page)
    # The label page opens with "copies that need labels" chosen.
    assert '<a href="/labels?what=needing">打印这些标签</a>' in page
    assert re.search(
        r'value="needing"[^>]*checked|checked[^>]*value="needing"',
        signed_in.get("/labels?what=needing").get_data(as_text=True),
    )
    with central_db.factory() as s:
        assert s.scalar(select(Title.unified_number)) == "10019·3152"


def test_unreadable_file_says_why(signed_in: FlaskClient, central_db: CentralDB):
    r = upload(signed_in, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old.xls")
    assert r.status_code == 400
    assert "old.xls: is an old Excel 97-2003 workbook" in r.get_data(as_text=True)


@pytest.mark.parametrize("size", [UPLOAD_MAX_BYTES + 1, 17 * 1024 * 1024])
def test_a_file_over_the_limit_gets_a_clear_message(
    signed_in: FlaskClient, central_db: CentralDB, size: int
):
    r = upload(signed_in, b"a" * size, "huge.csv")
    assert r.status_code in (400, 413)
    assert "文件超过 12 MB" in r.get_data(as_text=True)
    assert count(central_db, Patron) == 0


def test_upload_needs_sign_in_and_csrf(client: FlaskClient, central_db: CentralDB):
    r = client.get("/imports")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    r = client.post(
        "/imports",
        data={"kind": "students", "file": (io.BytesIO(roster_xlsx()), "r.xlsx")},
        content_type="multipart/form-data",
    )
    assert r.status_code in (302, 400)
    assert count(central_db, Patron) == 0
