"""compensation cases (遗失赔偿): the case table, a title's price, a student's open cases, a loan lost

Revision ID: 0009_compensation
Revises: 0008_overdue_notices
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0009_compensation"
down_revision = "0008_overdue_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding columns needs no table copy on SQLite (a copy of `patrons` or `titles` would trip
    # the foreign keys that refer to them).
    with op.batch_alter_table("titles") as batch:
        batch.add_column(sa.Column("price_fen", sa.Integer(), nullable=True))
    with op.batch_alter_table("patrons") as batch:
        batch.add_column(
            sa.Column(
                "open_compensation_cases", sa.Integer(), nullable=False, server_default="0"
            )
        )
    with op.batch_alter_table("central_loan_facts") as batch:
        batch.add_column(sa.Column("lost_at", db.models.UTCDateTime(), nullable=True))
    op.create_table(
        "central_compensation_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patron_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("title_id", sa.Integer(), nullable=False),
        sa.Column("loan_uuid", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.Integer(), nullable=True),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", db.models.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("settled_at", db.models.UTCDateTime(), nullable=True),
        sa.Column("settled_by", sa.String(length=64), nullable=True),
        sa.Column("found_at", db.models.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('lost', 'damaged')", name=op.f("ck_central_compensation_cases_reason")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'waived', 'replaced', 'cancelled', 'refunded')",
            name=op.f("ck_central_compensation_cases_status"),
        ),
        sa.CheckConstraint(
            "amount_fen >= 0", name=op.f("ck_central_compensation_cases_amount_fen")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_central_compensation_cases_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["patron_id"],
            ["patrons.id"],
            name=op.f("fk_central_compensation_cases_patron_id_patrons"),
        ),
        sa.ForeignKeyConstraint(
            ["title_id"], ["titles.id"], name=op.f("fk_central_compensation_cases_title_id_titles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_central_compensation_cases")),
    )
    op.create_index(
        "ix_central_compensation_cases_patron_id_status",
        "central_compensation_cases",
        ["patron_id", "status"],
    )
    op.create_index(
        "ix_central_compensation_cases_item_id", "central_compensation_cases", ["item_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_central_compensation_cases_item_id", "central_compensation_cases")
    op.drop_index("ix_central_compensation_cases_patron_id_status", "central_compensation_cases")
    op.drop_table("central_compensation_cases")
    with op.batch_alter_table("central_loan_facts") as batch:
        batch.drop_column("lost_at")
    with op.batch_alter_table("patrons") as batch:
        batch.drop_column("open_compensation_cases")
    with op.batch_alter_table("titles") as batch:
        batch.drop_column("price_fen")
