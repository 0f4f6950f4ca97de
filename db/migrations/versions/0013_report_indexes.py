"""reports: loans and sign-in events by when they happened

Revision ID: 0013_report_indexes
Revises: 0012_console_page_indexes
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0013_report_indexes"
down_revision = "0012_console_page_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_loans_checked_out_at", "loans", ["checked_out_at"], unique=False)
    op.create_index(
        "ix_central_events_kind_recorded_at",
        "central_events",
        ["kind", "recorded_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_central_events_kind_recorded_at", table_name="central_events")
    op.drop_index("ix_loans_checked_out_at", table_name="loans")
