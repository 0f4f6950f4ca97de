"""Apply Alembic migrations programmatically at start-up (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# The full-text parts of the search index, made by migration 0003 in plain SQL because each
# database has its own kind (SQLite: the FTS5 table title_search_fts and its shadow tables;
# PostgreSQL: a GIN index over the generated column terms_tsv, made by migration 0014).
# Comparisons with the models leave them out.
SEARCH_FTS_PREFIX = "title_search_fts"
SEARCH_GIN_INDEX = "ix_title_search_terms_tsv"
SEARCH_TSV_COLUMN = ("title_search", "terms_tsv")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's name filter: everything but the full-text parts of the search index."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_FTS_PREFIX)
    if type_ == "column":
        table = parent_names.get("table_name") if isinstance(parent_names, dict) else None
        return (table, name) != SEARCH_TSV_COLUMN
    return not (type_ == "index" and name == SEARCH_GIN_INDEX)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at `engine` up to `revision`; safe to call on every start."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
