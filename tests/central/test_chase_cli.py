"""`python run_kiosk.py chase [--dry-run] [--sms-csv PATH] [--class-lists DIR]` on a real SMTP server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import update

import run_kiosk
from db.models import Patron
from tests.central.conftest import CentralDB


@pytest.fixture
def config(tmp_path: Path, central_db: CentralDB, smtp) -> Path:
    _, mail = smtp
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{central_db.url}"\n'
        '[school]\nname = "阳光小学"\n'
        "[chase]\ncount_closed_days = true\nclass_list_days = 3\nparents_days = 5\n"
        "long_overdue_days = 30\n"
        f'[mail]\nhost = "127.0.0.1"\nport = {mail.port}\nstarttls = false\n'
        'from_address = "library@school.edu.cn"\n'
    )
    return path


def test_chase_command(config, tmp_path, central_db, library, make_kiosk, smtp, capsys):
    inbox, _ = smtp
    with central_db.factory.begin() as s:
        s.execute(
            update(Patron)
            .where(Patron.student_number.in_(["S2026001", "S2026003"]))
            .values(parent_email="parent@example.cn", parent_phone="")
        )
        s.execute(
            update(Patron)
            .where(Patron.student_number == "S2026002")
            .values(parent_email="", parent_phone="13800000002")
        )
    kiosk = make_kiosk("k1")
    # The command uses the real clock: loans 60, 25 and 20 days old (14-day loans).
    now = dt.datetime.now(dt.UTC)
    kiosk.checkout("SX00001", "S2026001", now - dt.timedelta(days=60))  # 46 days: long overdue
    kiosk.checkout("SX00004", "S2026002", now - dt.timedelta(days=25))  # 11: parents (SMS)
    kiosk.checkout("SX00006", "S2026003", now - dt.timedelta(days=18))  # 4: class list only
    kiosk.push()

    assert run_kiosk.main(["chase", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "would e-mail 1" in out
    assert "parent@example.cn: SX00001 《草房子》 46 day(s), 三年级2班" in out
    assert "Parents for the SMS export (no e-mail address): 1" in out
    assert "consider a loss case: 1" in out and "SX00001" in out
    assert inbox.messages == []

    sms = tmp_path / "sms.csv"
    lists = tmp_path / "lists"
    lists.mkdir()
    args = ["chase", "--sms-csv", str(sms), "--class-lists", str(lists), "--config", str(config)]
    assert run_kiosk.main(args) == 0
    out = capsys.readouterr().out
    assert "sent 1, failed 0" in out
    assert len(inbox.messages) == 1 and inbox.messages[0]["To"] == "parent@example.cn"
    assert "13800000002" in sms.read_text(encoding="utf-8-sig")
    assert sorted(p.name for p in lists.iterdir()) == ["催还单-3-2.pdf", "催还单-4-1.pdf"]

    # Again: nothing new to send, export or list.
    sms.unlink()
    assert run_kiosk.main(args) == 0
    out = capsys.readouterr().out
    assert "e-mailed 0" in out and "SMS export written" not in out and not sms.exists()
    assert len(inbox.messages) == 1


def test_chase_command_bad_input(config, tmp_path, capsys):
    args = ["chase", "--class-lists", str(tmp_path / "nowhere"), "--config", str(config)]
    assert run_kiosk.main(args) == 2
    assert "is not a folder" in capsys.readouterr().err
