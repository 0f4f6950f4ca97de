"""central_overdue_notices: the overdue chase's notices, one per loan and stage

Revision ID: 0008_overdue_notices
Revises: 0007_console_roles_audit
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0008_overdue_notices"
down_revision = "0007_console_roles_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "central_overdue_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_uuid", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("at", db.models.UTCDateTime(), nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=36), nullable=False),
        sa.Column("by_username", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "stage IN ('kiosk_reminder', 'class_list', 'parents', 'long_overdue')",
            name=op.f("ck_central_overdue_notices_stage"),
        ),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'print')", name=op.f("ck_central_overdue_notices_channel")
        ),
        sa.CheckConstraint(
            "status IN ('sending', 'sent', 'failed')",
            name=op.f("ck_central_overdue_notices_status"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_uuid"],
            ["loans.uuid"],
            name=op.f("fk_central_overdue_notices_loan_uuid_loans"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_central_overdue_notices")),
        sa.UniqueConstraint(
            "loan_uuid", "stage", name=op.f("uq_central_overdue_notices_loan_uuid_stage")
        ),
    )
    with op.batch_alter_table("central_overdue_notices") as batch_op:
        batch_op.create_index("ix_central_overdue_notices_batch", ["batch"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("central_overdue_notices") as batch_op:
        batch_op.drop_index("ix_central_overdue_notices_batch")
    op.drop_table("central_overdue_notices")
