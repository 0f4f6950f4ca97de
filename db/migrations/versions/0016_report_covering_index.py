"""reports: the loans' by-time index also carries the copy and the student (read from the index alone)

Revision ID: 0016_report_covering_index
Revises: 0015_report_rollup
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0016_report_covering_index"
down_revision = "0015_report_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The wider index answers every query the narrow one did (same first column), so it replaces
    # it rather than making each loan write one index more.
    op.create_index(
        "ix_loans_checked_out_at_item_patron",
        "loans",
        ["checked_out_at", "item_id", "patron_id"],
        unique=False,
    )
    op.drop_index("ix_loans_checked_out_at", table_name="loans")


def downgrade() -> None:
    op.create_index("ix_loans_checked_out_at", "loans", ["checked_out_at"], unique=False)
    op.drop_index("ix_loans_checked_out_at_item_patron", table_name="loans")
