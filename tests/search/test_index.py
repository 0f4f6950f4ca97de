"""The search rows follow the catalog: pulled changes, the demo library, the migration's backfill."""

from __future__ import annotations

from sqlalchemy import func, select, text

from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Title, TitlePinyin, TitleSearch
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
