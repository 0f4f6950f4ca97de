"""`run_kiosk.py` refuses bad files at start with one sentence and exit code 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.damage import damage_table, replace_in_table, table_pages
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
# Long enough for a start that should fail; a kiosk that starts serving instead is a failure.
START_TIMEOUT_S = 30


def run_kiosk(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "run_kiosk.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def one_sentence_refusal(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr


@pytest.fixture
def kiosk_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[kiosk]
staff_pin_file = "staff_pin"
[server]
port = {free_port()}
[database]
path = "var/kiosk.sqlite3"
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def demo_database(kiosk_config: Path) -> Path:
    done = run_kiosk("demo-data", "--config", str(kiosk_config))
    assert done.returncode == 0, done.stderr
    return kiosk_config.parent / "var" / "kiosk.sqlite3"


# --- the database ------------------------------------------------------------------------------


def test_a_damaged_page_inside_a_table_is_refused_with_the_way_to_recover(
    kiosk_config, demo_database
):
    page = damage_table(demo_database, "patrons")
    assert page == table_pages(demo_database, "patrons")[0]
    done = run_kiosk("serve", "--config", str(kiosk_config))
    one_sentence_refusal(done, f"The database {demo_database} is damaged (quick_check:")
    assert "rebuild-db" in done.stderr and "docs/recovery.md" in done.stderr
    check = run_kiosk("check-config", "--config", str(kiosk_config))
    one_sentence_refusal(check, "is damaged")


def test_a_zero_byte_database_is_refused_not_served_as_an_empty_library(kiosk_config, tmp_path):
    database = tmp_path / "var" / "kiosk.sqlite3"
    database.parent.mkdir()
    database.touch()
    done = run_kiosk("serve", "--config", str(kiosk_config))
    one_sentence_refusal(done, f"The database {database} is an empty (0-byte) file")
    assert database.stat().st_size == 0
    sync = run_kiosk("demo-data", "--config", str(kiosk_config))
    one_sentence_refusal(sync, "empty (0-byte) file")


def test_a_missing_database_is_a_new_kiosk(kiosk_config, tmp_path):
    done = run_kiosk("check-config", "--config", str(kiosk_config))
    assert done.returncode == 0, done.stderr
    assert "not created yet" in done.stdout
    assert not (tmp_path / "var" / "kiosk.sqlite3").exists()


def test_a_bad_header_is_refused(kiosk_config, demo_database):
    with demo_database.open("r+b") as fh:
        fh.write(b"SQLite format 2\x00")
    done = run_kiosk("serve", "--config", str(kiosk_config))
    one_sentence_refusal(done, "is not a usable SQLite file (file is not a database)")


def test_a_text_file_is_refused(kiosk_config, tmp_path):
    database = tmp_path / "var" / "kiosk.sqlite3"
    database.parent.mkdir()
    database.write_text("id,name\n1,李华\n" * 300, encoding="utf-8")
    done = run_kiosk("serve", "--config", str(kiosk_config))
    one_sentence_refusal(done, "is not a usable SQLite file")


def test_deep_check_finds_an_index_that_quick_check_cannot(kiosk_config, demo_database):
    # A copy's barcode changed inside the table page only: the page is well formed, but the
    # unique index on barcodes no longer matches the table.
    replace_in_table(demo_database, "items", b"SX00007", b"SX0000Z")
    quick = run_kiosk("check-config", "--config", str(kiosk_config))
    assert quick.returncode == 0, quick.stderr
    assert "quick_check ok" in quick.stdout
    deep = run_kiosk("check-config", "--deep", "--config", str(kiosk_config))
    one_sentence_refusal(deep, "is damaged (integrity_check:")


# --- the config file and secret files -----------------------------------------------------------


def test_a_config_file_that_is_not_utf8(tmp_path):
    config = tmp_path / "config.toml"
    config.write_bytes('[kiosk]\nname = "书香图书馆"\n'.encode("gb18030"))
    done = run_kiosk("serve", "--config", str(config))
    one_sentence_refusal(done, f"Configuration file {config}: not UTF-8 text")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_folder_given_as_the_config(tmp_path):
    done = run_kiosk("serve", "--config", str(tmp_path))
    one_sentence_refusal(done, f"Configuration file {tmp_path}: this is a folder, not a file")
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_pin_file_that_is_a_folder(kiosk_config, tmp_path):
    (tmp_path / "staff_pin").mkdir()
    done = run_kiosk("serve", "--config", str(kiosk_config))
    one_sentence_refusal(done, "(kiosk.staff_pin_file)", "is a folder, not a file")


def test_a_pin_file_that_is_not_text(kiosk_config, tmp_path):
    (tmp_path / "staff_pin").write_bytes(b"\xff\xfe\x00\x01")
    done = run_kiosk("serve", "--config", str(kiosk_config))
    one_sentence_refusal(done, "(kiosk.staff_pin_file)", "is not UTF-8 text")


def _without_file_permission_bypass() -> tuple[str, ...]:
    """A prefix that makes permissions bite even for root (tests here often run as root)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


def test_a_pin_file_this_user_may_not_read(kiosk_config, tmp_path):
    pin = tmp_path / "staff_pin"
    pin.write_text("246810\n", encoding="utf-8")
    pin.chmod(0o000)
    done = run_kiosk(
        "serve", "--config", str(kiosk_config), prefix=_without_file_permission_bypass()
    )
    one_sentence_refusal(done, "(kiosk.staff_pin_file)", "cannot be read by this user")


def test_a_world_readable_pin_file_is_made_private_and_the_kiosk_starts(kiosk_config, tmp_path):
    pin = tmp_path / "staff_pin"
    pin.write_text("246810\n", encoding="utf-8")
    pin.chmod(0o644)
    done = run_kiosk("check-config", "--config", str(kiosk_config))
    assert done.returncode == 0, done.stderr
    assert pin.stat().st_mode & 0o777 == 0o600
    assert "was readable by other users (mode 644): changed to 600" in done.stderr
    assert "246810" not in done.stderr + done.stdout
