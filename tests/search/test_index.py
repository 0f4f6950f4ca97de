"""The search rows follow the catalog: imports, pulled changes, the demo library, the migration's backfill."""

from __future__ import annotations

import io

from sqlalchemy import func, select, text

from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Title, TitlePinyin, TitleSearch
from kiosk.config import Settings
from kiosk.importing.catalog import cli_import_catalog
from kiosk.search.index import index_titles
from kiosk.search.query import search_titles
from kiosk.services.replica import apply_changes


def _title(name: str, author: str = "") -> dict[str, object]:
    return {"title": name, "author": author, "publisher": "", "year": None, "call_number": ""}


def _found(factory: SessionFactory, query: str) -> list[str]:
    with factory() as session:
        return [h.title for h in search_titles(session, query)]


def test_pulled_titles_are_indexed_and_reindexed(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        result = apply_changes(
            session,
            [
                {
                    "entity": "title",
                    "key": "9787020002207",
                    "version": 1,
                    "data": _title("家", "巴金"),
                },
                {
                    "entity": "title",
                    "key": "id:9",
                    "version": 2,
                    "data": _title("无书号的旧书") | {"series": "旧书丛刊", "subjects": "藏书"},
                },
            ],
        )
    assert result.applied == 2
    assert _found(session_factory, "家") == ["家"]
    assert _found(session_factory, "bajin") == ["家"]
    assert _found(session_factory, "旧书") == ["无书号的旧书"]
    assert _found(session_factory, "丛刊") == ["无书号的旧书"]
    assert _found(session_factory, "藏书") == ["无书号的旧书"]
    with session_factory.begin() as session:
        apply_changes(
            session,
            [{"entity": "title", "key": "id:9", "version": 3, "data": _title("新书")}],
        )
    assert _found(session_factory, "旧书") == []
    assert _found(session_factory, "xinshu") == ["新书"]
    with session_factory.begin() as session:
        apply_changes(
            session, [{"entity": "title", "key": "9787020002207", "version": 4, "deleted": True}]
        )
        assert session.scalar(select(func.count()).select_from(TitleSearch)) == 1
        assert session.scalar(select(func.count()).select_from(TitlePinyin)) > 0
    assert _found(session_factory, "家") == []


def test_demo_library_is_searchable(session_factory: SessionFactory, demo_library: object) -> None:
    assert _found(session_factory, "caofangzi") == ["草房子"]


def test_migration_backfills_titles_written_before_it(tmp_path) -> None:
    engine = make_engine(tmp_path / "old.sqlite3")
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO titles (id, title, author, publisher, call_number, classification) VALUES (1, '城南旧事', '林海音', '', 'I246.5/L57', 'clc')"
            )
        )
    upgrade(engine)
    factory = make_session_factory(engine)
    assert _found(factory, "城南") == ["城南旧事"]
    assert _found(factory, "cnjs") == ["城南旧事"]
    assert _found(factory, "I246") == ["城南旧事"]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Title)) == 1
    engine.dispose()


def test_an_import_indexes_new_titles_exactly_as_reading_them_back_would(
    session_factory: SessionFactory, tmp_path
) -> None:
    # New titles are indexed from the values the import has just written; this is what
    # index_titles makes of the same titles read from the database.
    path = tmp_path / "books.csv"
    path.write_text(
        "ISBN,题名,作者,出版社,索书号,丛书,主题词\n"
        "9787020002207,长江《行》乐 ABC,巴金,人民文学出版社,I247.5/1,激流三部曲,小说;家庭\n"
        ",无书号的重庆旧书,佚名,,K928/2,,\n"
        "9787020008735,   西游记（彩图版）   ,吴承恩,,I242.4/3,,\n",
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()
    assert (
        cli_import_catalog(
            Settings(), path, session_factory=session_factory, out=out, err=err, progress=False
        )
        == 0
    ), err.getvalue()

    def rows() -> tuple[list[tuple], list[tuple]]:
        with session_factory() as session:
            search = session.execute(
                select(
                    TitleSearch.title_id,
                    TitleSearch.title_key,
                    TitleSearch.call_key,
                    TitleSearch.terms,
                ).order_by(TitleSearch.title_id)
            ).all()
            pinyin = session.execute(
                select(TitlePinyin.title_id, TitlePinyin.field, TitlePinyin.key).order_by(
                    TitlePinyin.title_id, TitlePinyin.field, TitlePinyin.key
                )
            ).all()
        return [tuple(r) for r in search], [tuple(r) for r in pinyin]

    imported = rows()
    assert len(imported[0]) == 3 and imported[1]
    with session_factory.begin() as session:
        assert index_titles(session, session.scalars(select(Title.id)).all()) == 3
    assert rows() == imported
