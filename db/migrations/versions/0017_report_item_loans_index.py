"""reports: each copy's loans by time also carry the student (popular books over a long period from the index)

Revision ID: 0017_report_item_loans_index
Revises: 0016_report_covering_index
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0017_report_item_loans_index"
down_revision = "0016_report_covering_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The wider index answers the ledger's look-ups by copy and time as the narrow one did (same
    # first columns), so it replaces it rather than making each loan write one index more.
    op.create_index(
        "ix_loans_item_id_checked_out_at_patron",
        "loans",
        ["item_id", "checked_out_at", "patron_id"],
        unique=False,
    )
    op.drop_index("ix_loans_item_id_checked_out_at", table_name="loans")


def downgrade() -> None:
    op.create_index(
        "ix_loans_item_id_checked_out_at", "loans", ["item_id", "checked_out_at"], unique=False
    )
    op.drop_index("ix_loans_item_id_checked_out_at_patron", table_name="loans")
