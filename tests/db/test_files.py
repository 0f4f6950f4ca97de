"""Secret files and SQLite databases are created readable by their owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from central.db import open_central_engine
from db.engine import make_engine
from db.files import FileProblem, make_private, read_secret_file, write_secret_file
from db.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask, so only the code's own modes protect the files."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_secret_file_is_0600_even_with_an_open_umask(tmp_path, open_umask):
    path = tmp_path / "sub" / "token"
    write_secret_file(path, "s3cret")
    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "s3cret\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["token"]


def test_replacing_a_world_readable_secret_leaves_a_0600_file(tmp_path, open_umask):
    path = tmp_path / "token"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o644)
    inode = path.stat().st_ino
    write_secret_file(path, "new")
    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "new\n"
    # Renamed into place, not rewritten: a reader never sees a half-written or empty file.
    assert path.stat().st_ino != inode


def test_add_kiosk_token_file_replaces_a_loose_file_with_a_private_one(tmp_path):
    config = tmp_path / "central.toml"
    config.write_text(f'[central]\ndatabase_url = "{tmp_path / "central.sqlite3"}"\n')
    token_file = tmp_path / "kiosk_token"
    token_file.write_text("stale\n")
    token_file.chmod(0o644)
    done = subprocess.run(
        [
            sys.executable,
            "run_kiosk.py",
            "central-add-kiosk",
            "k1",
            "--token-file",
            str(token_file),
            "--config",
            str(config),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert mode(token_file) == 0o600
    assert token_file.read_text().strip() != "stale"


def test_a_loose_existing_secret_is_tightened_with_a_warning(tmp_path, caplog):
    path = tmp_path / "pin"
    path.write_text("123456\n")
    path.chmod(0o644)
    make_private(path, "secret file")
    assert mode(path) == 0o600
    assert "was readable by other users (mode 644): changed to 600" in caplog.text
    assert "123456" not in caplog.text


def test_unreadable_secrets_are_one_sentence_problems(tmp_path):
    folder = tmp_path / "pin_dir"
    folder.mkdir()
    with pytest.raises(FileProblem, match="is a folder, not a file"):
        read_secret_file(folder, "PIN file")
    binary = tmp_path / "pin_bin"
    binary.write_bytes(b"\xff\xfe12\x00")
    with pytest.raises(FileProblem, match="is not UTF-8 text"):
        read_secret_file(binary, "PIN file")
    assert read_secret_file(tmp_path / "missing") is None


def _write_something(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (name TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('李华')"))


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_new_kiosk_database_and_its_wal_and_shm_are_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = tmp_path / "var" / "kiosk.sqlite3"
        engine = make_engine(path)
        _write_something(engine)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        # While the engine is open all three exist.
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        engine.dispose()
    finally:
        os.umask(old)


def test_a_new_central_database_and_its_wal_and_shm_are_0600(tmp_path):
    path = tmp_path / "central.sqlite3"
    engine = open_central_engine(str(path))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM central_kiosks")).scalar()
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        engine.dispose()


def test_an_existing_loose_database_is_tightened_with_its_siblings(tmp_path):
    path = tmp_path / "kiosk.sqlite3"
    engine = make_engine(path)
    upgrade(engine)
    engine.dispose()
    path.chmod(0o644)
    engine = make_engine(path)
    _write_something(engine)
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()


def test_a_database_is_never_created_as_a_zero_byte_file(tmp_path):
    path = tmp_path / "kiosk.sqlite3"
    engine = make_engine(path)
    # Before SQLite has written anything of its own, the file already has a header.
    assert path.stat().st_size > 0
    engine.dispose()
    path.unlink()
    path.touch()
    with pytest.raises(FileProblem, match=r"empty \(0-byte\) file"):
        make_engine(path)
