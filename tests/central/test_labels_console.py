"""The console's label page: who may use it, the preview, the PDF (decoded back) and the audit log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from central.labels import LAYOUTS, place
from db.central_models import AuditEntry
from db.models import Title
from tests.central.conftest import CentralDB
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.central.label_support import seed_label_library
from tests.central.test_labels import decoded_positions, rasterise
from tests.conftest import FakeClock

MADE_UP = ["G8753669293", "GB8753669293", "GEN0000001"]


@pytest.fixture
def staff(central_app: Flask, central_db: CentralDB, clock: FakeClock, tmp_path: Path):
    seed_label_library(central_db, clock, tmp_path)
    return add_staff(central_db, clock)


def page_text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_a_helper_may_not_print_labels_and_sees_no_link(central_app: Flask, staff):
    helper = signed_in(central_app, staff["helper"])
    assert 'href="/labels"' not in helper.get("/").get_data(as_text=True)
    assert helper.get("/labels").status_code == 403
    token = csrf_token(helper, "/")
    assert (
        helper.post("/labels/pdf", data={"csrf_token": token, "what": "needing"}).status_code == 403
    )
    librarian = signed_in(central_app, staff["librarian"])
    assert 'href="/labels"' in librarian.get("/").get_data(as_text=True)


def test_the_page_is_chinese_first_with_english_on_request(central_app: Flask, staff):
    browser = signed_in(central_app, staff["librarian"])
    zh = page_text(browser.get("/labels"))
    assert "打印图书标签和借书证" in zh and "需要贴标签的图书" in zh and "下载 PDF" in zh
    # The classes, one per class however the roster writes it.
    assert "三年级2班" in zh and "五年级3班" in zh
    en = page_text(browser.get("/labels?lang=en"))
    assert "Print labels and library cards" in en and "Download PDF" in en
    # A link may choose what to print: the form comes filled in.
    page = browser.get("/labels?what=class&class_key=4-1").get_data(as_text=True)
    assert re.search(r'value="class"[^>]*checked|checked[^>]*value="class"', page)
    assert re.search(r'<option selected value="4-1">|<option value="4-1" selected>', page)


def preview(browser, query: str):
    """The preview as the page's form posts it (the query string's fields and the token)."""
    fields = dict(pair.split("=", 1) for pair in query.split("&"))
    return browser.post("/labels", data={"csrf_token": csrf_token(browser, "/labels"), **fields})


def test_the_preview_counts_labels_and_sheets_from_the_start_position(central_app, staff):
    browser = signed_in(central_app, staff["librarian"])
    response = preview(browser, "what=needing&kind=accession&layout=a4-3x10&start=29")
    assert response.status_code == 200
    text = page_text(response)
    assert "共 3 个标签，需要 2 张 A4 3×10 · 70×29.7 mm 纸，从第 29 格开始。" in text
    page = response.get_data(as_text=True)
    assert page.count('<li class="used">') == 28 and page.count('<li class="print">') == 2
    for barcode in MADE_UP:
        assert barcode in text


@pytest.mark.parametrize(
    "query, message",
    [
        ("what=needing&kind=accession&layout=a4-3x10&start=31", "起始序号应在 1 到 30 之间"),
        ("what=needing&kind=accession&layout=a4-3x10&start=0", "空白标签的序号从 1 开始"),
        ("what=since&kind=accession&layout=a4-3x10&start=1", "请填写入藏日期"),
        ("what=since&since=2026-02-30&kind=accession&layout=a4-3x10&start=1", "日期"),
        ("what=title&isbn=9780000000000&kind=accession&layout=a4-3x10&start=1", "ISBN"),
        ("what=class&class_key=9-9&layout=a4-3x10&start=1", "这个班没有在读学生"),
        ("what=since&since=2030-01-01&kind=spine&layout=a4-65&start=1", "没有符合条件的图书"),
    ],
)
def test_bad_choices_are_refused_in_words(central_app, staff, query, message):
    browser = signed_in(central_app, staff["librarian"])
    response = preview(browser, query)
    assert response.status_code == 400
    problems = re.search(r'<ul class="problems"[^>]*>(.*?)</ul>', response.get_data(as_text=True))
    assert problems and message in problems.group(1), page_text(response)


def test_the_pdf_download_scans_back_and_is_in_the_audit_log(
    central_app: Flask, central_db: CentralDB, staff, tmp_path: Path
):
    browser = signed_in(central_app, staff["librarian"], address="10.9.8.7")
    form = {
        "csrf_token": csrf_token(browser, "/labels"),
        "what": "needing",
        "kind": "accession",
        "layout": "a4-3x10",
        "start": "7",
    }
    response = browser.post("/labels/pdf", data=form)
    assert response.status_code == 200, page_text(response)
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    layout = LAYOUTS["a4-3x10"]
    found = decoded_positions(rasterise(response.get_data(), tmp_path), layout)
    assert found == {
        (p.sheet, p.position): b for p, b in zip(place(layout, 3, 7), MADE_UP, strict=True)
    }
    with central_db.factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "labels.print")).one()
    assert (entry.username, entry.role, entry.address) == ("liu", "librarian", "10.9.8.7")
    assert entry.subject == "accession:needing"
    assert entry.detail == {"layout": "a4-3x10", "start": 7, "labels": 3, "sheets": 1}


def test_a_classs_cards_download_without_card_numbers_in_the_audit_log(
    central_app: Flask, central_db: CentralDB, staff, tmp_path: Path
):
    browser = signed_in(central_app, staff["admin"])
    form = {"csrf_token": csrf_token(browser, "/labels"), "what": "class", "class_key": "3-2"}
    form |= {"kind": "accession", "layout": "a4-3x10", "start": "1"}
    response = browser.post("/labels/pdf", data=form)
    assert response.status_code == 200, page_text(response)
    found = decoded_positions(rasterise(response.get_data(), tmp_path), LAYOUTS["cards-cr80"])
    assert found == {(0, 1): "20260001", (0, 2): "20260002"}
    with central_db.factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "labels.print")).one()
    assert entry.subject == "card:class 3-2"
    assert "20260001" not in str(entry.detail) and "20260001" not in entry.subject


def test_a_download_without_the_forms_token_is_refused(central_app, central_db, staff):
    browser = signed_in(central_app, staff["librarian"])
    response = browser.post("/labels/pdf", data={"what": "needing", "start": "1"})
    assert response.status_code == 400
    assert browser.post("/labels", data={"what": "needing", "start": "1"}).status_code == 400
    with central_db.factory() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.action == "labels.print")).all()
            == []
        )


def test_the_preview_names_copies_left_off_a_spine_sheet(central_app, central_db, staff):
    with central_db.factory.begin() as session:
        session.execute(update(Title).where(Title.title == "乡土旧书").values(call_number=""))
    browser = signed_in(central_app, staff["librarian"])
    response = preview(browser, "what=needing&kind=spine&layout=a4-65&start=1")
    assert response.status_code == 200
    text = page_text(response)
    assert "共 2 个标签" in text
    assert "这些图书没有索书号，不印书脊标签：GEN0000001" in text


def test_scanned_barcodes_print_in_order_and_unknown_ones_are_refused(
    central_app: Flask, staff, tmp_path: Path
):
    browser = signed_in(central_app, staff["librarian"])
    response = preview(
        browser, "what=barcodes&barcodes=SX00002,NOPE1&kind=accession&layout=a4-65&start=1"
    )
    assert response.status_code == 400
    assert "这些条码不是馆藏图书的条码（或图书已注销）：NOPE1" in page_text(response)
    form = {
        "csrf_token": csrf_token(browser, "/labels"),
        "what": "barcodes",
        "barcodes": "SX00003\nSX00001",
        "kind": "accession",
        "layout": "a4-65",
        "start": "1",
    }
    response = browser.post("/labels/pdf", data=form)
    assert response.status_code == 200, page_text(response)
    found = decoded_positions(rasterise(response.get_data(), tmp_path), LAYOUTS["a4-65"])
    assert found == {(0, 1): "SX00003", (0, 2): "SX00001"}
