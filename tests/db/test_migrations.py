"""Migrations at head match the models, and SQLite is opened with the durability settings."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from db.engine import make_engine
from db.migrate import alembic_config, current_revision, head_revision, include_name, upgrade
from db.models import Base


def test_migrations_at_head_match_the_models(tmp_path):
    engine = make_engine(tmp_path / "m.sqlite3")
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(tmp_path):
    engine = make_engine(tmp_path / "m.sqlite3")
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)


def test_sqlite_pragmas(tmp_path):
    engine = make_engine(tmp_path / "m.sqlite3")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10_000


def test_write_transactions_begin_immediate(tmp_path):
    """A second writer waits for the first instead of failing half-way."""
    engine = make_engine(tmp_path / "m.sqlite3")
    upgrade(engine)
    statements = []

    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO kiosk_state (key, value) VALUES ('a', 'b')"))
    # The BEGIN itself goes through exec_driver_sql on the same cursor path.
    assert any(s.startswith("BEGIN IMMEDIATE") for s in statements)


def test_existing_holds_get_the_same_uuid_on_every_database(tmp_path):
    """A kiosk's copy of a central hold has the central's id; both derive the same uuid."""
    uuids = []
    for name in ("central", "kiosk"):
        engine = make_engine(tmp_path / f"{name}.sqlite3")
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patrons (id, student_number, card_barcode, name, class_name,"
                    " grade, status, block_reason, parent_name, parent_phone, parent_email)"
                    " VALUES (1, 's1', 'c1', 'n', '', '', 'active', '', '', '', '')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO titles (id, title, author, publisher, call_number, classification) VALUES (1, 't', '', '', '', '')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO holds (id, title_id, patron_id, status, placed_at)"
                    " VALUES (7, 1, 1, 'waiting', '2026-11-25 02:00:00.000000')"
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            uuids.append(conn.execute(text("SELECT uuid FROM holds WHERE id = 7")).scalar())
    assert uuids[0] is not None and uuids[0] == uuids[1]


def test_in_repair_status_added_to_a_database_with_loans_and_holds(tmp_path):
    """0007 loosens items' CHECK in place on SQLite: loans and holds keep their copies."""
    engine = make_engine(tmp_path / "m.sqlite3")
    script = ScriptDirectory.from_config(alembic_config(engine))
    before = script.get_revision("0007_item_in_repair").down_revision
    assert isinstance(before, str)
    upgrade(engine, before)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO titles (id, title, author, publisher, call_number, classification)"
                " VALUES (1, '草房子', '', '', '', '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO items (id, barcode, title_id, location, status)"
                " VALUES (1, 'SX1', 1, '', 'on_loan')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO patrons (id, student_number, card_barcode, name, class_name, grade,"
                " status, block_reason, parent_name, parent_phone, parent_email, opac_pin_hash)"
                " VALUES (1, 's1', 'c1', '李华', '', '', 'active', '', '', '', '', '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO loans (id, uuid, item_id, patron_id, checked_out_at, due_at,"
                " renewals, kiosk_id) VALUES (1, 'u1', 1, 1, '2026-11-02', '2026-11-16', 0, 'k')"
            )
        )
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE items SET status = 'in_repair' WHERE id = 1"))
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        assert conn.execute(text("SELECT count(*) FROM loans")).scalar() == 1
    with pytest.raises(IntegrityError, match="ck_items_status"), engine.begin() as conn:
        conn.execute(text("UPDATE items SET status = 'misplaced' WHERE id = 1"))


def test_helper_role_added_with_users_and_their_sessions_kept(tmp_path):
    """0007_console_roles_audit widens the role CHECK in place: nobody is signed out."""
    engine = make_engine(tmp_path / "m.sqlite3")
    script = ScriptDirectory.from_config(alembic_config(engine))
    before = script.get_revision("0007_console_roles_audit").down_revision
    assert isinstance(before, str)
    upgrade(engine, before)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO central_staff_users (id, username, password_hash, role, disabled,"
                " created_at) VALUES (1, 'liu', 'x', 'librarian', 0, '2026-11-30')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO central_console_sessions (token_sha256, user_id, created_at,"
                " last_seen_at) VALUES ('t', 1, '2026-11-30', '2026-11-30')"
            )
        )
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO central_staff_users (id, username, password_hash, role, disabled,"
                " created_at) VALUES (2, 'xiaoming', 'x', 'helper', 0, '2026-11-30')"
            )
        )
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert conn.execute(text("SELECT count(*) FROM central_console_sessions")).scalar() == 1
    with pytest.raises(IntegrityError, match="ck_central_staff_users_role"), engine.begin() as conn:
        conn.execute(text("UPDATE central_staff_users SET role = 'reader' WHERE id = 1"))
