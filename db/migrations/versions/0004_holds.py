"""holds: a uuid for every hold, the expired state; patrons: OPAC PIN hash and birth date

Revision ID: 0004_holds
Revises: 0003_console_sessions
Create Date: 2026-11-30
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004_holds"
down_revision = "0003_console_sessions"
branch_labels = None
depends_on = None

# Existing holds get a uuid derived from their id: a kiosk's copy of a central hold has the
# central's id, so both sides derive the same uuid without talking to each other.
HOLD_UUID_NAMESPACE = uuid.UUID("6f1d7c52-2b0e-4a51-9d3c-8f0c4d1f5a10")

OLD_STATUS = "status IN ('waiting', 'ready', 'fulfilled', 'cancelled')"
NEW_STATUS = "status IN ('waiting', 'ready', 'fulfilled', 'cancelled', 'expired')"


def upgrade() -> None:
    # Adding columns needs no table copy on SQLite; a copy of `patrons` would trip the foreign
    # keys that loans and holds hold on it.
    with op.batch_alter_table("patrons") as batch:
        batch.add_column(
            sa.Column("opac_pin_hash", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("uuid", sa.String(length=36), nullable=True))
    conn = op.get_bind()
    holds = sa.table("holds", sa.column("id", sa.Integer), sa.column("uuid", sa.String))
    for (hold_id,) in conn.execute(sa.select(holds.c.id)).all():
        conn.execute(
            holds.update()
            .where(holds.c.id == hold_id)
            .values(uuid=str(uuid.uuid5(HOLD_UUID_NAMESPACE, f"hold:{hold_id}")))
        )
    with op.batch_alter_table("holds") as batch:
        batch.alter_column("uuid", existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint(op.f("uq_holds_uuid"), ["uuid"])
        batch.drop_constraint(op.f("ck_holds_status"), type_="check")
        batch.create_check_constraint("status", sa.text(NEW_STATUS))


def downgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        batch.drop_constraint(op.f("ck_holds_status"), type_="check")
        batch.create_check_constraint("status", sa.text(OLD_STATUS))
        batch.drop_constraint(op.f("uq_holds_uuid"), type_="unique")
        batch.drop_column("uuid")
    with op.batch_alter_table("patrons") as batch:
        batch.drop_column("birth_date")
        batch.drop_column("opac_pin_hash")
