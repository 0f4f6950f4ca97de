"""Importers on generated rosters: a clear outcome every time, and idempotent; a refused file says why."""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.importing.catalog import cli_import_catalog
from kiosk.importing.roster import cli_import_roster
from tests.fuzz.strategies import (
    STUDENT_HEADER,
    student_rows,
)

FUZZ = settings(
    max_examples=20,
    deadline=None,
    database=None,
    # One database through the run: each file is imported on top of the previous ones.
    suppress_health_check=list(HealthCheck),
)
EXIT_CODES = {0, 2}  # imported (rejected rows reported), or the file as a whole was refused


def library_digest(database: str) -> str:
    db = sqlite3.connect(database)
    try:
        hasher = hashlib.sha256()
        for table in ("patrons", "titles", "items"):
            for row in db.execute(f"SELECT * FROM {table} ORDER BY id"):
                hasher.update(repr(row).encode())
        return hasher.hexdigest()
    finally:
        db.close()


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode(encoding, errors="replace")


def twice(run: Any, path: Path, database: str) -> tuple[int, str]:
    """Import `path` twice; the second import must change nothing."""
    code, err = run(path)
    assert code in EXIT_CODES, err
    after_first = library_digest(database)
    again, err = run(path)
    assert again == code, err
    assert library_digest(database) == after_first, "importing the same file again changed it"
    return code, err


def test_student_rosters(settings, session_factory, engine, tmp_path):
    database = str(engine.url.database)
    path = tmp_path / "students.csv"

    def run(file: Path) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli_import_roster(
            settings,
            file,
            mark_missing_left=False,
            session_factory=session_factory,
            out=out,
            err=err,
            progress=False,
        )
        return code, out.getvalue() + err.getvalue()

    @FUZZ
    @given(
        rows=st.lists(student_rows(), max_size=12),
        encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    )
    def check(rows: list[list[str]], encoding: str) -> None:
        path.write_bytes(csv_bytes(STUDENT_HEADER, rows, encoding))
        twice(run, path, database)

    check()


# --- what the fuzzing found, kept as plain examples ------------------------------------------


def test_a_file_of_separators_only_is_refused_with_a_sentence(settings, session_factory, tmp_path):
    path = tmp_path / "catalog.mrc"
    path.write_bytes(b',\n""\n')
    out, err = io.StringIO(), io.StringIO()
    code = cli_import_catalog(
        settings, path, session_factory=session_factory, out=out, err=err, progress=False
    )
    assert code == 2 and "no header row" in err.getvalue()
