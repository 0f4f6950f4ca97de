"""report roll-up: loans and visits per local day, grade and source, and who was seen which day

Revision ID: 0015_report_rollup
Revises: 0014_title_search_tsv
Create Date: 2026-11-30

The tables start empty and without a state row: the local day depends on `[circulation]
timezone`, a setting the migration does not read. The central builds the roll-up when it starts
(`central.rollup.ensure_rollup`) or by `run_kiosk.py rebuild-rollup --central`; until then the
reports count from the loans themselves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0015_report_rollup"
down_revision = "0014_title_search_tsv"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("built_at", db.models.UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_report_rollup_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup_state")),
    )
    op.create_table(
        "report_day_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grade", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "grade", "source", name=op.f("pk_report_day_counts")),
    )
    op.create_table(
        "report_student_days",
        sa.Column("patron_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("first_at", db.models.UTCDateTime(), nullable=False),
        sa.Column("first_is_visit", sa.Boolean(), nullable=False),
        sa.Column("first_source", sa.String(length=64), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patron_id"],
            ["patrons.id"],
            name=op.f("fk_report_student_days_patron_id_patrons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patron_id", "day", name=op.f("pk_report_student_days")),
    )


def downgrade() -> None:
    op.drop_table("report_student_days")
    op.drop_table("report_day_counts")
    op.drop_table("report_rollup_state")
