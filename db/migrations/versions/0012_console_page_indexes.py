"""console record pages: indexes for a student's loan history, a copy's hold and the hold shelf

Revision ID: 0012_console_page_indexes
Revises: 0011_kiosk_db_ok
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0012_console_page_indexes"
down_revision = "0011_kiosk_db_ok"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_loans_patron_id_checked_out_at", "loans", ["patron_id", "checked_out_at"], unique=False
    )
    op.create_index("ix_holds_item_id", "holds", ["item_id"], unique=False)
    op.create_index("ix_holds_status_ready_at", "holds", ["status", "ready_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_holds_status_ready_at", table_name="holds")
    op.drop_index("ix_holds_item_id", table_name="holds")
    op.drop_index("ix_loans_patron_id_checked_out_at", table_name="loans")
