"""Drift test: the scan path's and the holds' generated statements against the migrated schema.

Three ways a statement can drift from the schema, each checked for every statement in
kiosk.services.statements, and each shown to catch a planted violation:
- an INSERT leaves out a NOT NULL column that has no default in the database (the ORM's Python
  defaults do not help plain SQL);
- a statement names a column the migrated schema lacks;
- a status value compared or written in SQL is not one the column's CHECK constraint allows.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, bindparam, insert, literal, literal_column, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ClauseList, Grouping
from sqlalchemy.sql.schema import CheckConstraint

from db.models import Base, Item, Loan
from kiosk.services import statements
from kiosk.services.statements import Statement

ALL = {name: value for name, value in vars(statements).items() if isinstance(value, Statement)}


@pytest.fixture
def migrated(plain_db: sqlite3.Connection) -> sqlite3.Connection:
    """A connection to a database built by the Alembic migrations (not by create_all)."""
    return plain_db


def allowed_values() -> dict[Column[object], set[str]]:
    """Each column with a `col IN ('a', 'b')` CHECK constraint, and the values it allows."""
    allowed: dict[Column[object], set[str]] = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if not isinstance(constraint, CheckConstraint):
                continue
            found = re.fullmatch(r"(\w+) IN \((.*)\)", str(constraint.sqltext))
            if found:
                values = set(re.findall(r"'([^']*)'", found.group(2)))
                allowed[table.c[found.group(1)]] = values
    return allowed


def missing_not_null_columns(stmt: Statement, db: sqlite3.Connection) -> list[str]:
    """NOT NULL columns without a database default that an INSERT leaves out."""
    found = re.match(r"INSERT (?:OR \w+ )?INTO (\w+) \(([^)]*)\)", stmt.sql)
    if found is None:
        return []
    table, listed = found.group(1), {c.strip().strip('"') for c in found.group(2).split(",")}
    required = {
        name
        for _, name, _, notnull, default, pk in db.execute(f"PRAGMA table_info({table})")
        if notnull and default is None and not pk
    }
    return sorted(required - listed)


def unknown_columns(stmt: Statement, db: sqlite3.Connection) -> str | None:
    """SQLite's complaint when it prepares the statement against the migrated schema."""
    try:
        db.execute("EXPLAIN " + stmt.sql, dict.fromkeys(stmt.parameters | set(stmt.constants)))
    except sqlite3.OperationalError as exc:
        return str(exc)
    return None


def _bound_values(side: object) -> list[object]:
    """The values bound on one side of a comparison: one, or each of an IN list's."""
    if isinstance(side, BindParameter):
        return [side.value] if side.value is not None else []
    if isinstance(side, Grouping | ClauseList):
        return [value for element in side.get_children() for value in _bound_values(element)]
    return []


def _compared_values(stmt: Statement) -> Iterator[tuple[Column[object], object]]:
    for node in visitors.iterate(stmt.statement):
        if isinstance(node, BinaryExpression):
            sides = (node.left, node.right)
            for column, other in (sides, sides[::-1]):
                for value in _bound_values(other):
                    for base in getattr(column, "base_columns", ()):
                        yield base, value
    table = getattr(stmt.statement, "table", None)
    if table is not None:
        # Values an INSERT or UPDATE writes: their bind parameters are named after the columns.
        for name, value in stmt.constants.items():
            if name in table.c:
                yield table.c[name], value


def unknown_status_values(stmt: Statement) -> list[str]:
    allowed = allowed_values()
    return [
        f"{column.table.name}.{column.name} = {value!r}"
        for column, value in _compared_values(stmt)
        if column in allowed and str(value) not in allowed[column]
    ]


@pytest.mark.parametrize("name", sorted(ALL))
def test_statement_matches_the_migrated_schema(name: str, migrated: sqlite3.Connection):
    stmt = ALL[name]
    assert missing_not_null_columns(stmt, migrated) == []
    assert unknown_columns(stmt, migrated) is None
    assert unknown_status_values(stmt) == []


@pytest.mark.parametrize("module", ["kiosk/services/circulation.py", "kiosk/services/holds.py"])
def test_the_desk_services_run_only_generated_statements(module: str):
    # A hand-written query (db.execute("SELECT ...")) would escape every check above.
    source = (Path(__file__).parents[2] / module).read_text(encoding="utf-8")
    assert re.findall(r"\bdb\.execute\(|\bexecute\(\s*f?[\"']", source) == []


def test_status_values_are_bound_never_written_into_the_sql():
    for name, stmt in ALL.items():
        quoted = re.findall(r"'[^']*'", stmt.sql)
        assert quoted == [], f"{name} has literals {quoted}"


# --- the checks catch planted violations ---------------------------------------------------------

loans, items = Loan.__table__, Item.__table__


def test_an_insert_leaving_out_a_not_null_column_is_caught(migrated: sqlite3.Connection):
    planted = Statement(
        insert(loans).values(
            uuid=bindparam("uuid"),
            item_id=bindparam("item_id"),
            patron_id=bindparam("patron_id"),
            checked_out_at=bindparam("checked_out_at"),
            kiosk_id=bindparam("kiosk_id"),
        )
    )
    assert missing_not_null_columns(planted, migrated) == ["due_at"]


def test_a_python_side_default_of_the_model_is_bound_like_the_orm_binds_it():
    # Loan.renewals has default=0 in the model and no default in the database.
    assert "renewals" not in statements.INSERT_LOAN.parameters
    assert statements.INSERT_LOAN.constants["renewals"] == 0


def test_a_column_the_schema_lacks_is_caught(migrated: sqlite3.Connection):
    planted = Statement(select(loans.c.id, literal_column("loans.shelf_mark")))
    assert "no such column: loans.shelf_mark" in (unknown_columns(planted, migrated) or "")


def test_a_status_value_that_does_not_exist_is_caught():
    planted = Statement(select(items.c.id).where(items.c.status == "misplaced"))
    assert unknown_status_values(planted) == ["items.status = 'misplaced'"]
    aliased = items.alias("c")
    planted = Statement(select(aliased.c.id).where(aliased.c.status == "on_shelf"))
    assert unknown_status_values(planted) == ["items.status = 'on_shelf'"]
    # An IN list of bound values, as the holds' statements use for "waiting or ready".
    planted = Statement(
        select(items.c.id).where(items.c.status.in_([literal("available"), literal("shelved")]))
    )
    assert unknown_status_values(planted) == ["items.status = 'shelved'"]
