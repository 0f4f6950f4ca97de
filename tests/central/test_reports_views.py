"""The reports on the console (permission reports / export) and as JSON under the monitor token."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from db.central_models import AuditEntry
from tests.central.conftest import MONITOR_TOKEN, CentralDB
from tests.central.console_support import add_staff, signed_in
from tests.central.report_history import History, build_history

TOKEN = {"Authorization": f"Bearer {MONITOR_TOKEN}"}


@pytest.fixture
def history(central_db: CentralDB) -> History:
    with central_db.factory.begin() as session:
        return build_history(session)


@pytest.mark.parametrize(
    ("path", "period_key"),
    [
        ("/api/v1/reports/class-ranking?period=2026-12", "2026-12"),
        ("/api/v1/reports/class-ranking?period=2026-T1", "2026-T1"),
        ("/api/v1/reports/popular?period=2026-2027&grade=3", "2026-2027"),
        ("/api/v1/reports/new-books?since=2026-09-01", "2026-09-01.."),
        (
            "/api/v1/reports/circulation?from=2026-09-01&to=2026-12-31&by=month",
            "2026-09-01..2026-12-31",
        ),
        ("/api/v1/reports/year-summary?period=2026-2027", "2026-2027"),
    ],
)
def test_json_reports_under_the_monitor_token(client, history, path, period_key):
    assert client.get(path).status_code == 401
    response = client.get(path, headers=TOKEN)
    assert response.status_code == 200
    body = response.get_json()
    assert body["period"]["key"] == period_key
    assert isinstance(body["rows"], list)


def test_json_circulation_rows(client, history):
    body = client.get(
        "/api/v1/reports/circulation?from=2026-09-01&to=2026-12-31&by=month", headers=TOKEN
    ).get_json()
    assert [r["period"] for r in body["rows"]] == ["2026-09", "2026-10", "2026-11", "2026-12"]
    assert {
        "loans",
        "visits",
        "loans_year_before",
        "visits_change_pct",
        "by_grade",
        "by_source",
    } <= set(body["rows"][0])
    assert body["total"]["loans"] == sum(r["loans"] for r in body["rows"])


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("class-ranking?period=2026-13", "period must be"),
        ("circulation?from=2026-09-01&to=2026-01-01", "is before from"),
        ("circulation?from=2026-09-01&to=2026-12-31&by=week", "by must be"),
        ("popular?grade=初五", "grade must be"),
    ],
)
def test_json_bad_arguments_are_400_with_a_message(client, history, query, said):
    response = client.get(f"/api/v1/reports/{query}", headers=TOKEN)
    assert response.status_code == 400
    assert said in response.get_json()["message"]


def test_console_pages_by_role(central_app, central_db, clock, history):
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu")
    page = librarian.get("/reports/class-ranking?period=2026-2027")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "书香班级排行" in html and "三年级2班" in html
    assert 'src="/reports/class-ranking/chart.svg?period=2026-2027"' in html
    assert "/reports/class-ranking/download.xlsx?period=2026-2027" in html
    english = librarian.get("/reports/class-ranking?period=2026-2027&lang=en").get_data(
        as_text=True
    )
    assert "Class ranking" in english and "Grade 3 Class 2" in english
    helper = signed_in(central_app, "xiaoming", address="10.1.2.4")
    assert helper.get("/reports/class-ranking").status_code == 403
    assert helper.get("/reports/class-ranking/download.csv").status_code == 403


@pytest.mark.parametrize("name", ["class-ranking", "popular", "circulation", "year-summary"])
def test_charts_are_svg_without_script(central_app, central_db, clock, history, name):
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu")
    page = librarian.get(f"/reports/{name}?period=2026-2027")
    assert page.status_code == 200
    response = librarian.get(f"/reports/{name}/chart.svg?period=2026-2027")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert "<svg" in svg and "<script" not in svg
    assert "script-src" not in response.headers["Content-Security-Policy"]


def test_a_download_is_audited(central_app, central_db, clock, history):
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu")
    response = librarian.get("/reports/popular/download.csv?period=2026-2027")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert table[0][1] == "书名"
    with central_db.factory() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).one()
    assert entry.username == "liu" and entry.subject == "popular"


def test_a_bad_period_on_the_page_says_so(central_app, central_db, clock, history):
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu")
    page = librarian.get("/reports/popular?period=yesterday")
    assert page.status_code == 400
    assert "period must be" in page.get_data(as_text=True)


def test_a_year_without_loans_lists_no_classes_books_or_splits(
    central_app, central_db, clock, history
):
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu")
    # The known history starts in September 2025: the school year before has no loans.
    page = librarian.get("/reports/year-summary?period=2024-2025").get_data(as_text=True)
    assert '<ol class="top">' not in page
    # Top classes, most borrowed books, and the splits by grade and by kiosk or desk.
    assert page.count("这段时间没有记录。") == 4
    # A year with loans lists its classes, each of which lent something.
    page = librarian.get("/reports/year-summary?period=2026-2027").get_data(as_text=True)
    assert page.count('<ol class="top">') == 2
    assert " — 0 " not in page
