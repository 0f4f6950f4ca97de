"""The catalog import fills the search: CSV and MARC21 records, series and subject headings too."""

from __future__ import annotations

import io
from pathlib import Path

import pymarc

from db.engine import SessionFactory
from kiosk.config import Settings
from kiosk.importing.catalog import cli_import_catalog
from kiosk.search.query import search_titles


def _import(path: Path, settings: Settings, session_factory: SessionFactory) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli_import_catalog(
        settings, path, session_factory=session_factory, out=out, err=err, progress=False
    )
    assert code == 0, err.getvalue()


def _found(session_factory: SessionFactory, query: str) -> list[str]:
    with session_factory() as session:
        return [h.title for h in search_titles(session, query)]


def test_csv_with_series_and_subjects(
    tmp_path: Path, settings: Settings, session_factory: SessionFactory
) -> None:
    path = tmp_path / "books.csv"
    path.write_text(
        "书名,作者,出版社,ISBN,索书号,丛书,主题词,条码\n"
        "三体,刘慈欣,重庆出版社,9787536692930,I247.55/1,地球往事三部曲,科幻小说；外星文明,T0001\n"
        "长江,张大江,长江文艺出版社,,K928.42/1,,,T0002\n",
        encoding="utf-8",
    )
    _import(path, settings, session_factory)
    assert _found(session_factory, "地球往事") == ["三体"]
    assert _found(session_factory, "外星文明") == ["三体"]
    assert _found(session_factory, "zhangjiang") == ["长江"]
    assert _found(session_factory, "K928") == ["长江"]
    # Importing the file again changes nothing, and the search still finds each title once.
    _import(path, settings, session_factory)
    assert _found(session_factory, "刘慈欣") == ["三体"]


def test_marc21_series_and_subjects(
    tmp_path: Path, settings: Settings, session_factory: SessionFactory
) -> None:
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader(record.leader[:9] + "a" + record.leader[10:])
    for tag, codes in (
        ("020", [("a", "9787536692930")]),
        ("100", [("a", "刘慈欣")]),
        ("245", [("a", "三体 /")]),
        ("490", [("a", "地球往事三部曲")]),
        ("650", [("a", "科幻小说")]),
        ("650", [("a", "长篇小说")]),
        ("852", [("p", "T0001"), ("c", "I区书架")]),
    ):
        record.add_field(
            pymarc.Field(
                tag=tag,
                indicators=pymarc.Indicators(" ", " "),
                subfields=[pymarc.Subfield(c, v) for c, v in codes],
            )
        )
    path = tmp_path / "books.mrc"
    path.write_bytes(record.as_marc())
    _import(path, settings, session_factory)
    assert _found(session_factory, "地球往事") == ["三体"]
    assert _found(session_factory, "长篇小说") == ["三体"]
    assert _found(session_factory, "santi") == ["三体"]
