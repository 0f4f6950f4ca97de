"""central kiosks: whether the kiosk's own database works, as its heartbeat reports it

Revision ID: 0011_kiosk_db_ok
Revises: 0010_rollovers
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_kiosk_db_ok"
down_revision = "0010_rollovers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("central_kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("db_ok", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("central_kiosks", schema=None) as batch_op:
        batch_op.drop_column("db_ok")
