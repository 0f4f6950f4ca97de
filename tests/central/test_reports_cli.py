"""The `report` command: each format written and read back, spreadsheet-safe cells, bad input exit 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

import run_kiosk
from tests.central.conftest import CentralDB
from tests.central.report_history import History, build_history


@pytest.fixture
def config(tmp_path: Path, central_db: CentralDB) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{central_db.url}"\n'
        '[school]\nname = "书香小学"\n'
    )
    return path


@pytest.fixture
def history(central_db: CentralDB) -> History:
    with central_db.factory.begin() as session:
        return build_history(session, loans=400)


def _report(config: Path, *args: str) -> int:
    return run_kiosk.main(["report", *args, "--config", str(config)])


def test_csv_json_and_xlsx_say_the_same(config, tmp_path, history):
    base = ["popular", "--period", "2025-09-01..2027-08-31", "--limit", "12"]
    assert _report(config, *base, "--format", "csv", "--output", str(tmp_path / "p.csv")) == 0
    assert _report(config, *base, "--format", "json", "--output", str(tmp_path / "p.json")) == 0
    assert _report(config, *base, "--format", "xlsx", "--output", str(tmp_path / "p.xlsx")) == 0
    raw = (tmp_path / "p.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == ["名次", "书名", "作者", "索书号", "借阅次数", "借阅人数"]
    rows = json.loads((tmp_path / "p.json").read_text())["rows"]
    assert [r[1] for r in table[1:]] == [
        ("'" + r["title"]) if r["title"].startswith("=") else r["title"] for r in rows
    ]
    # The history has a title "=书00": it is text in every spreadsheet, never a formula.
    assert any(r["title"] == "=书00" for r in rows)
    assert any(r[1] == "'=书00" for r in table)
    sheet = load_workbook(tmp_path / "p.xlsx").active
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert [v[4] for v in values] == [r["loans"] for r in rows]
    cell = next(c for row in sheet.iter_rows() for c in row if c.value == "'=书00")
    assert cell.data_type == "s"


def test_class_ranking_json_matches_the_service_shape(config, tmp_path, history):
    out = tmp_path / "r.json"
    assert (
        _report(
            config, "class-ranking", "--period", "2026-T1", "--format", "json", "--output", str(out)
        )
        == 0
    )
    body = json.loads(out.read_text())
    assert body["period"]["key"] == "2026-T1"
    assert body["period"]["from"] == "2026-09-01" and body["period"]["to"] == "2027-01-20"
    assert {"rank", "class", "class_key", "loans", "borrowers", "students"} <= set(body["rows"][0])
    assert sum(r["loans"] for r in body["rows"]) == body["school"]["loans"]


def test_circulation_from_to_and_as_of(config, tmp_path, history):
    out = tmp_path / "c.csv"
    args = ["circulation", "--from", "2026-09-01", "--to", "2026-12-31", "--by", "month"]
    assert _report(config, *args, "--format", "csv", "--output", str(out)) == 0
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in table[1:]] == ["2026年9月", "2026年10月", "2026年11月", "2026年12月"]
    summary = tmp_path / "s.json"
    assert (
        _report(
            config,
            "year-summary",
            "--as-of",
            "2027-03-01",
            "--format",
            "json",
            "--output",
            str(summary),
        )
        == 0
    )
    assert json.loads(summary.read_text())["period"]["key"] == "2026-2027"


def test_pdf_reads_back_in_chinese(config, tmp_path, history):
    out = tmp_path / "ranking.pdf"
    args = ["class-ranking", "--period", "2026-2027", "--format", "pdf", "--output", str(out)]
    assert _report(config, *args) == 0
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "书香小学 书香班级排行" in text
    assert "2026-2027学年" in text
    assert "三年级2班" in text


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["class-ranking", "--period", "2026-13"], "period must be a month"),
        (["circulation", "--from", "2026-09-01"], "from and to go together"),
        (["circulation", "--from", "2026-09-01", "--to", "2026-08-01"], "is before from"),
        (["popular", "--grade", "九年级十"], "grade must be 1 to 12"),
        (["year-summary", "--period", "2026-12"], "is of a school year"),
        (["new-books", "--since", "yesterday"], "since must be a date"),
    ],
)
def test_bad_input_is_said_and_exits_2(config, tmp_path, capsys, args, said):
    out = tmp_path / "x.csv"
    assert _report(config, *args, "--format", "csv", "--output", str(out)) == 2
    assert said in capsys.readouterr().err
    assert not out.exists()


def test_missing_output_folder_exits_2(config, tmp_path, capsys, history):
    out = tmp_path / "nowhere" / "x.csv"
    assert _report(config, "class-ranking", "--format", "csv", "--output", str(out)) == 2
    assert "does not exist" in capsys.readouterr().err
