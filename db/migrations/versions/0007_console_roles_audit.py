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
    # On SQLite this copies the users table; dropping the old copy ends every console session
    # (their rows cascade), so staff sign in again once after the upgrade.
    with op.batch_alter_table("central_staff_users") as batch:
        batch.drop_constraint(op.f("ck_central_staff_users_role"), type_="check")
        batch.create_check_constraint("role", sa.text(NEW_ROLES))


def downgrade() -> None:
    with op.batch_alter_table("central_staff_users") as batch:
        batch.drop_constraint(op.f("ck_central_staff_users_role"), type_="check")
        batch.create_check_constraint("role", sa.text(OLD_ROLES))
    with op.batch_alter_table("central_audit_log") as batch:
        batch.drop_index("ix_central_audit_log_action_at")
        batch.drop_index("ix_central_audit_log_username_at")
        batch.drop_index("ix_central_audit_log_at")
    op.drop_table("central_audit_log")
