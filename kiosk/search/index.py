"""Write the search rows of titles (title_search, title_pinyin) from the titles table."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from db.models import PinyinField, Title, TitlePinyin, TitleSearch
from kiosk.search.text import call_number_key, compact, pinyin_keys, token_text

_SEARCH: Table = TitleSearch.__table__  # type: ignore[assignment]
_PINYIN: Table = TitlePinyin.__table__  # type: ignore[assignment]
# Titles per round of statements: a big import re-indexes in a few statements per chunk.
_CHUNK = 500


# What a title's search rows are computed from, in search_row's order.
INDEXED_FIELDS = ("title", "author", "publisher", "call_number", "series", "subjects")


def index_titles(session: Session, title_ids: Collection[int]) -> int:
    """Recompute the search rows of the titles `title_ids` from their current values.

    Ids of titles that no longer exist are skipped (their rows went with them: the search
    tables cascade on delete). Returns how many titles were indexed. Caller commits.
    """
    indexed = 0
    for chunk in _chunks(sorted(set(title_ids))):
        rows = session.execute(
            select(Title.id, *(getattr(Title, name) for name in INDEXED_FIELDS)).where(
                Title.id.in_(chunk)
            )
        ).all()
        session.execute(delete(TitleSearch).where(TitleSearch.title_id.in_(chunk)))
        session.execute(delete(TitlePinyin).where(TitlePinyin.title_id.in_(chunk)))
        indexed += _write(session, [tuple(row) for row in rows])
    return indexed


def index_new_titles(session: Session, titles: Iterable[Sequence[Any]]) -> int:
    """Write the search rows of titles inserted in this transaction, which have none yet.

    Each title is (id, *INDEXED_FIELDS) as just written: an import has the values at hand,
    so they are neither read back nor their (absent) rows deleted. Caller commits.
    """
    rows = list(titles)
    for start in range(0, len(rows), _CHUNK):
        _write(session, rows[start : start + _CHUNK])
    return len(rows)


def _write(session: Session, rows: Sequence[Sequence[Any]]) -> int:
    if not rows:
        return 0
    # Core inserts of the tables (not the ORM's bulk insert of the classes): the rows are
    # plain dictionaries already, and the ORM's per-row bookkeeping cost more than SQLite.
    # RETURNING makes SQLAlchemy send title_search's rows as multi-row INSERTs ("insert many
    # values") rather than one statement per row: SQLite's FTS5 writes its pending terms out
    # at the end of every statement its trigger runs in, so one statement per row left a
    # segment per title for FTS5 to merge, three quarters of the time spent in this table.
    session.execute(
        insert(_SEARCH).returning(_SEARCH.c.title_id), [search_row(*row) for row in rows]
    ).all()
    keys = [key for row in rows for key in pinyin_rows(row[0], row[1], row[2])]
    if keys:
        session.execute(insert(_PINYIN), keys)
    return len(rows)


def index_missing(session: Session) -> int:
    """Index every title that has no search row yet (new databases, titles added by hand).

    Returns how many it indexed. Caller commits.
    """
    missing = session.scalars(
        select(Title.id).outerjoin(TitleSearch).where(TitleSearch.title_id.is_(None))
    ).all()
    return index_titles(session, missing)


def search_row(
    title_id: int,
    title: str,
    author: str,
    publisher: str,
    call_number: str,
    series: str = "",
    subjects: str = "",
) -> dict[str, Any]:
    """The title_search row of one title."""
    return {
        "title_id": title_id,
        "title_key": compact(title)[:500],
        "call_key": call_number_key(call_number)[:64],
        "terms": token_text((title, author, series, publisher, *subjects.split(";"))),
    }


def pinyin_rows(title_id: int, title: str, author: str) -> list[dict[str, Any]]:
    """The title_pinyin rows of one title: each distinct key once, its title reading first."""
    title_keys = pinyin_keys(title)
    author_keys = pinyin_keys(author)
    field_of: dict[str, int] = {}
    for field, keys in (
        (PinyinField.TITLE_FULL, title_keys.full),
        (PinyinField.TITLE_INITIALS, title_keys.initials),
        (PinyinField.AUTHOR_FULL, author_keys.full),
        (PinyinField.AUTHOR_INITIALS, author_keys.initials),
    ):
        number = int(field)
        for key in keys:
            field_of.setdefault(key, number)
    return [{"key": key, "title_id": title_id, "field": f} for key, f in field_of.items()]


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
