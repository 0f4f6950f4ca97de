"""central_rollovers: the school-year rollovers done, one per school year

Revision ID: 0010_rollovers
Revises: 0009_compensation
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = "0010_rollovers"
down_revision = "0009_compensation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "central_rollovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_year", sa.Integer(), nullable=False),
        sa.Column("at", db.models.UTCDateTime(), nullable=False),
        sa.Column("by_username", sa.String(length=64), nullable=False),
        sa.Column("top_grade", sa.Integer(), nullable=False),
        sa.Column("students_moved", sa.Integer(), nullable=False),
        sa.Column("students_left", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_central_rollovers")),
        sa.UniqueConstraint("school_year", name=op.f("uq_central_rollovers_school_year")),
    )


def downgrade() -> None:
    op.drop_table("central_rollovers")
