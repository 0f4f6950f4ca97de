"""search index of titles: title_search (+ FTS5 on SQLite, GIN on PostgreSQL), title_pinyin; titles.series and titles.subjects

Revision ID: 0003_title_search
Revises: 0006_kiosk_sync_schedule
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision = "0003_title_search"
down_revision = "0006_kiosk_sync_schedule"
branch_labels = None
depends_on = None

# SQLite: an FTS5 index over title_search.terms, without its own copy of the text
# (content=), kept in step by triggers; positions are kept for phrase queries, column sizes
# are not (nothing ranks by BM25). The terms are ASCII words (kiosk.search.text.tokens).
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE title_search_fts USING fts5("
    "terms, content='title_search', content_rowid='title_id', "
    "tokenize='unicode61', columnsize=0)",
    "CREATE TRIGGER title_search_ai AFTER INSERT ON title_search BEGIN "
    "INSERT INTO title_search_fts(rowid, terms) VALUES (new.title_id, new.terms); END",
    "CREATE TRIGGER title_search_ad AFTER DELETE ON title_search BEGIN "
    "INSERT INTO title_search_fts(title_search_fts, rowid, terms) "
    "VALUES ('delete', old.title_id, old.terms); END",
    "CREATE TRIGGER title_search_au AFTER UPDATE ON title_search BEGIN "
    "INSERT INTO title_search_fts(title_search_fts, rowid, terms) "
    "VALUES ('delete', old.title_id, old.terms); "
    "INSERT INTO title_search_fts(rowid, terms) VALUES (new.title_id, new.terms); END",
]
# PostgreSQL: the same tokens through the 'simple' configuration (no stemming, no stop
# words), positions included, so phrase queries (<->) find adjacent characters.
POSTGRES_FTS = [
    "CREATE INDEX ix_title_search_terms_tsv ON title_search "
    "USING gin (to_tsvector('simple'::regconfig, terms))",
]


def _key_text(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("series", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("subjects", sa.String(length=500), server_default="", nullable=False)
        )
    op.create_table(
        "title_search",
        sa.Column("title_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title_key", _key_text(500), nullable=False),
        sa.Column("call_key", _key_text(64), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["title_id"],
            ["titles.id"],
            name=op.f("fk_title_search_title_id_titles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("title_id", name=op.f("pk_title_search")),
    )
    with op.batch_alter_table("title_search", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_title_search_call_key"), ["call_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_title_search_title_key"), ["title_key"], unique=False)

    op.create_table(
        "title_pinyin",
        sa.Column("key", _key_text(48), nullable=False),
        sa.Column("title_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("field", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["title_id"],
            ["titles.id"],
            name=op.f("fk_title_pinyin_title_id_titles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "title_id", "field", name=op.f("pk_title_pinyin")),
    )
    with op.batch_alter_table("title_pinyin", schema=None) as batch_op:
        batch_op.create_index("ix_title_pinyin_title_id", ["title_id"], unique=False)

    bind = op.get_bind()
    for statement in SQLITE_FTS if bind.dialect.name == "sqlite" else POSTGRES_FTS:
        op.execute(statement)

    # The titles already in the database get their rows now; from here on the catalog
    # import, the kiosk's pull and the demo library index what they write.
    from kiosk.search.index import index_missing

    index_missing(Session(bind=bind))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("title_search_ai", "title_search_ad", "title_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS title_search_fts")
    with op.batch_alter_table("title_pinyin", schema=None) as batch_op:
        batch_op.drop_index("ix_title_pinyin_title_id")
    op.drop_table("title_pinyin")
    with op.batch_alter_table("title_search", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_title_search_title_key"))
        batch_op.drop_index(batch_op.f("ix_title_search_call_key"))
    op.drop_table("title_search")
    with op.batch_alter_table("titles", schema=None) as batch_op:
        batch_op.drop_column("subjects")
        batch_op.drop_column("series")
