"""central kiosks: the push schedule a heartbeat reports (oldest pending event, next push, interval)

Revision ID: 0006_kiosk_sync_schedule
Revises: 0005_title_unified_number
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0006_kiosk_sync_schedule"
down_revision = "0005_title_unified_number"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("central_kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oldest_pending_at", db.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_push_at", db.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("sync_interval_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("central_kiosks", schema=None) as batch_op:
        batch_op.drop_column("sync_interval_s")
        batch_op.drop_column("next_push_at")
        batch_op.drop_column("oldest_pending_at")
