"""console: the helper role (学生图管员) and the audit log of what staff changed

Revision ID: 0007_console_roles_audit
Revises: 0007_item_in_repair
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0007_console_roles_audit"
down_revision = "0007_item_in_repair"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('librarian', 'admin')"
NEW_ROLES = "role IN ('librarian', 'admin', 'helper')"


def upgrade() -> None:
    op.create_table(
        "central_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", db.models.UTCDateTime(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_central_audit_log")),
    )
    with op.batch_alter_table("central_audit_log") as batch:
        batch.create_index("ix_central_audit_log_at", ["at"], unique=False)
        batch.create_index("ix_central_audit_log_username_at", ["username", "at"], unique=False)
        batch.create_index("ix_central_audit_log_action_at", ["action", "at"], unique=False)
    _replace_role_check(OLD_ROLES, NEW_ROLES)


def downgrade() -> None:
    # A helper has no place in the old roles: they can no longer sign in, as the least of them.
    op.execute("DELETE FROM central_staff_users WHERE role = 'helper'")
    _replace_role_check(NEW_ROLES, OLD_ROLES)
    with op.batch_alter_table("central_audit_log") as batch:
        batch.drop_index("ix_central_audit_log_action_at")
        batch.drop_index("ix_central_audit_log_username_at")
        batch.drop_index("ix_central_audit_log_at")
    op.drop_table("central_audit_log")


def _replace_role_check(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_central_staff_users_role"), "central_staff_users", type_="check")
        op.create_check_constraint("role", "central_staff_users", sa.text(new))
        return
    # As 0007_item_in_repair does for items: recreating the table (batch mode) would drop the
    # old one under foreign keys, and the console sessions referring to it would cascade away.
    # A CHECK constraint changes nothing stored, so SQLite's documented way applies
    # (lang_altertable.html, "Making Other Kinds Of Table Schema Changes").
    table_sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'central_staff_users'"
    ).scalar_one()
    if table_sql.count(old) != 1:
        raise RuntimeError(f"central_staff_users' CHECK is not the expected {old!r}: {table_sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'central_staff_users'",
        (table_sql.replace(old, new),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
