"""reports: each student's loans by time also carry the copy (popular books for one grade from the index)

Revision ID: 0019_report_grade_loans_index
Revises: 0018_report_period_counts
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0019_report_grade_loans_index"
down_revision = "0018_report_period_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The wider index answers the history pages' look-ups by student and time as the narrow one
    # did (same first columns), so it replaces it rather than making each loan write one more.
    op.create_index(
        "ix_loans_patron_id_checked_out_at_item",
        "loans",
        ["patron_id", "checked_out_at", "item_id"],
        unique=False,
    )
    op.drop_index("ix_loans_patron_id_checked_out_at", table_name="loans")


def downgrade() -> None:
    op.create_index(
        "ix_loans_patron_id_checked_out_at", "loans", ["patron_id", "checked_out_at"], unique=False
    )
    op.drop_index("ix_loans_patron_id_checked_out_at_item", table_name="loans")
