"""titles.unified_number: the 统一书号 of books without an ISBN

Revision ID: 0005_title_unified_number
Revises: 0004_holds
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_title_unified_number"
down_revision = "0004_holds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unified_number", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_titles_unified_number"), ["unified_number"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_titles_unified_number"))
        batch_op.drop_column("unified_number")
