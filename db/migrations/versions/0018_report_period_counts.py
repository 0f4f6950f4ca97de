"""report roll-up: each student's and each title's loans per month and per school year (rankings)

Revision ID: 0018_report_period_counts
Revises: 0017_report_item_loans_index
Create Date: 2026-11-30

The tables start empty and the state row says no school-year start, so the central rebuilds the
roll-up the next time it starts (`central.rollup.ensure_rollup`): which month and school year a loan
falls in depends on `[circulation] timezone` and `[school] year_start`, settings the migration
does not read. Until then the rankings count from the loans themselves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_report_period_counts"
down_revision = "0017_report_item_loans_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_rollup_state") as batch:
        batch.add_column(sa.Column("year_start", sa.String(length=5), nullable=True))
    op.create_table(
        "report_student_periods",
        sa.Column("period", sa.String(length=9), nullable=False),
        sa.Column("patron_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patron_id"],
            ["patrons.id"],
            name=op.f("fk_report_student_periods_patron_id_patrons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period", "patron_id", name=op.f("pk_report_student_periods")),
    )
    op.create_table(
        "report_title_periods",
        sa.Column("period", sa.String(length=9), nullable=False),
        sa.Column("title_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["title_id"],
            ["titles.id"],
            name=op.f("fk_report_title_periods_title_id_titles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("period", "title_id", name=op.f("pk_report_title_periods")),
    )
    op.create_index(
        "ix_report_title_periods_period_loans",
        "report_title_periods",
        ["period", "loans"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_report_title_periods_period_loans", table_name="report_title_periods")
    op.drop_table("report_title_periods")
    op.drop_table("report_student_periods")
    with op.batch_alter_table("report_rollup_state") as batch:
        batch.drop_column("year_start")
