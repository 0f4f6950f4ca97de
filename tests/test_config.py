"""config.toml is read once, and every problem is reported by its dotted key."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_is_valid():
    settings = load_settings(ROOT / "config.toml")
    assert settings.server.host == "127.0.0.1"
    assert settings.kiosk.idle_timeout_s == 45
    assert settings.database.path == ROOT / "var" / "kiosk.sqlite3"
    assert dt.date(2027, 10, 3) in settings.circulation.closed_dates


def test_defaults_when_sections_are_missing(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[kiosk]\nid = "k9"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.kiosk.id == "k9"
    assert settings.kiosk.idle_timeout_s == 45
    assert settings.server.port == 8080
    assert settings.scanner.terminator == "CR"
    assert settings.database.path == tmp_path / "var" / "kiosk.sqlite3"


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text('[database]\npath = "data/k.sqlite3"\n[kiosk]\nstaff_pin_file = "pin"\n')
    settings = load_settings(path)
    assert settings.database.path == tmp_path / "conf" / "data" / "k.sqlite3"
    assert settings.kiosk.staff_pin_file == tmp_path / "conf" / "pin"


def test_every_problem_is_named_by_dotted_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        """
[kiosk]
language = "fr"
idle_timeout_s = "soon"
colour = "red"
greeting = "nickname"
[server]
port = 70000
[scanner]
type = "serial"
terminator = "NUL"
[barcodes]
patron_pattern = "(unclosed"
[circulation]
opens_at = "25:00"
closed_dates = ["2026-13-01"]
block_when_overdue = "yes"
renew_within_days = -1
[bogus]
x = 1
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    keys = {problem.split(":")[0] for problem in info.value.problems}
    assert keys == {
        "bogus",
        "kiosk.colour",
        "kiosk.language",
        "kiosk.idle_timeout_s",
        "kiosk.greeting",
        "server.port",
        "scanner.terminator",
        "scanner.port",
        "barcodes.patron_pattern",
        "circulation.opens_at",
        "circulation.closed_dates",
        "circulation.block_when_overdue",
        "circulation.renew_within_days",
    }


def test_holiday_ranges_expand(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[circulation]\nclosed_dates = ["2027-02-05..2027-02-07", 2027-05-01]\n')
    settings = load_settings(path)
    assert settings.circulation.closed_dates == (
        dt.date(2027, 2, 5),
        dt.date(2027, 2, 6),
        dt.date(2027, 2, 7),
        dt.date(2027, 5, 1),
    )


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[kiosk\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_check_config_exits_2_and_lists_problems(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[kiosk]\nlanguage = "fr"\n[server]\nthreads = 0\n')
    result = subprocess.run(
        [sys.executable, "run_kiosk.py", "check-config", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "kiosk.language" in result.stderr
    assert "server.threads" in result.stderr


def test_school_year_settings(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[school]\nyear_start = "08-25"\nterm1 = "08-25..01-15"\nterm2 = "02-15..07-05"\n'
    )
    calendar = load_settings(cfg).school.calendar()
    assert calendar.term(2026, 1).start == dt.date(2026, 8, 25)
    assert calendar.term(2026, 2).last_day == dt.date(2027, 7, 5)
    cfg.write_text(
        '[school]\nyear_start = "02-30"\nterm1 = "09-01"\nterm2 = "02-20..09-15"\n'
        'ranking_measure = "fastest"\n'
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    problems = "\n".join(exc.value.problems)
    assert "school.year_start: must be a day of the year" in problems
    assert "school.term1: must be a first and last day" in problems
    assert "school.ranking_measure: must be one of" in problems
    cfg.write_text('[school]\nterm2 = "02-20..09-15"\n')
    with pytest.raises(ConfigError, match=r"school\.term2: ends after the school year"):
        load_settings(cfg)


def test_chase_and_mail_problems_are_named_by_dotted_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        """
[chase]
count_closed_days = "no"
class_list_days = 20
parents_days = 10
send_at = "7 o'clock"
[mail]
host = "smtp.school.edu.cn"
user = "library"
from_address = "not an address"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    problems = info.value.problems
    assert {problem.split(":")[0] for problem in problems} == {
        "chase.count_closed_days",
        "chase.parents_days",
        "chase.send_at",
        "mail.from_address",
        "mail.password_file",
    }
    assert "chase.parents_days: must be at least chase.class_list_days (20), not 10" in problems


def test_chase_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    settings = load_settings(path)
    chase = settings.chase
    assert not chase.count_closed_days and chase.send_at is None
    assert (
        chase.kiosk_reminder_days
        <= chase.class_list_days
        <= chase.parents_days
        <= chase.long_overdue_days
    )
    assert settings.mail.host == ""


def test_school_name_on_printed_papers_falls_back_to_the_kiosk_name(tmp_path):
    from kiosk.config import school_name

    cfg = tmp_path / "config.toml"
    cfg.write_text('[kiosk]\nname = "实验小学图书馆"\n', encoding="utf-8")
    settings = load_settings(cfg)
    assert school_name(settings) == "实验小学图书馆"
    assert school_name(settings, short=True) == "实验小学图书馆"
    cfg.write_text('[school]\nname = "北京市实验小学"\nshort_name = "实验小学"\n', encoding="utf-8")
    settings = load_settings(cfg)
    assert school_name(settings) == "北京市实验小学"
    assert school_name(settings, short=True) == "实验小学"
    cfg.write_text("[school]\nname = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"school\.name: must be text"):
        load_settings(cfg)


def test_compensation_policy_settings(tmp_path):
    from decimal import Decimal

    from kiosk.circulation.compensation import CompensationMode, OnFound

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[compensation]\nmode = "fixed"\nfactor = 1.1\nfixed_yuan = 25.5\non_found = "keep"\n'
        "block_at_kiosk = true\n"
    )
    settings = load_settings(cfg).compensation
    policy = settings.policy()
    assert policy.mode is CompensationMode.FIXED
    assert policy.factor == Decimal("1.1")
    assert policy.fixed_fen == 2550
    assert policy.minimum_fen == 1000
    assert policy.on_found is OnFound.KEEP
    assert settings.block_at_kiosk is True
    cfg.write_text(
        '[compensation]\nmode = "cheapest"\nfactor = -1\nminimum_yuan = 1.005\n'
        'fixed_yuan = "30"\non_found = "never"\nblock_at_kiosk = "yes"\n'
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    problems = "\n".join(exc.value.problems)
    assert "compensation.mode: must be one of" in problems
    assert "compensation.factor: must be between 0 and 100" in problems
    assert "compensation.minimum_yuan: must have at most 2 decimals" in problems
    assert "compensation.fixed_yuan: must be a number" in problems
    assert "compensation.on_found: must be one of" in problems
    assert "compensation.block_at_kiosk: must be true or false" in problems
