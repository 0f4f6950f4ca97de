"""items: the in_repair status (a damaged copy set aside to be mended)

Revision ID: 0007_item_in_repair
Revises: 0003_title_search
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_item_in_repair"
down_revision = "0003_title_search"
branch_labels = None
depends_on = None

OLD_STATUS = "status IN ('available', 'on_loan', 'on_hold_shelf', 'lost', 'withdrawn')"
NEW_STATUS = "status IN ('available', 'on_loan', 'on_hold_shelf', 'lost', 'withdrawn', 'in_repair')"


def upgrade() -> None:
    _replace_status_check(OLD_STATUS, NEW_STATUS)


def downgrade() -> None:
    op.execute("UPDATE items SET status = 'available' WHERE status = 'in_repair'")
    _replace_status_check(NEW_STATUS, OLD_STATUS)


def _replace_status_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_items_status"), "items", type_="check")
        op.create_check_constraint("status", "items", sa.text(new))
        return
    # SQLite can't alter a CHECK constraint, and recreating `items` (batch mode) fails: the
    # migration runs with foreign keys on, inside a transaction, and loans and holds refer to
    # it. Changing a CHECK constraint changes nothing stored, so SQLite's own documented way
    # applies (lang_altertable.html, "Making Other Kinds Of Table Schema Changes"): rewrite
    # the table's SQL in the schema and bump schema_version so every connection re-reads it.
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'")
    table_sql = sql.scalar_one()
    if table_sql.count(old) != 1:
        raise RuntimeError(f"items' CHECK constraint is not the expected {old!r}: {table_sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'items'",
        (table_sql.replace(old, new),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
