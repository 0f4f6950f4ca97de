"""Find titles (and, for the console, students) for what someone typed; ranked, with availability."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    CompoundSelect,
    Integer,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal_column,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from db.models import (
    Item,
    ItemStatus,
    Patron,
    PinyinField,
    Title,
    TitlePinyin,
    TitleSearch,
)
from kiosk.circulation.schoolyear import class_key
from kiosk.search.text import (
    MAX_PINYIN_KEY_CHARS,
    call_number_key,
    compact,
    is_pinyin_query,
    looks_like_call_number,
    normalize,
    phrase,
    query_isbn13,
    query_unified_number,
)

# Ranking tiers, best first: an exact title (or the ISBN), a title that starts with the query
# (or a call number in the class), a title that contains it, another field that contains
# it, then pinyin of the title and of the author. Within a tier, titles with a copy on the
# shelf come first, then shorter titles (closer to what was typed).
EXACT, PREFIX, TITLE_SUBSTRING, OTHER_SUBSTRING, PINYIN_TITLE, PINYIN_AUTHOR = range(6)

# Candidates read per way of matching. A one-character query can match a tenth of a big
# catalog; ranking reads this many per way and the tiers above keep exact and prefix matches
# on top, so typing a second character is what narrows a broad query.
CANDIDATES_PER_WAY = 200
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# A title is at most 500 characters; a longer query is not a person typing.
MAX_QUERY_CHARS = 200
# Copies that count as the library's: lost and withdrawn ones are not on any shelf.
_GONE = (ItemStatus.LOST.value, ItemStatus.WITHDRAWN.value)


@dataclass(frozen=True)
class Shelf:
    """Copies of a title at one location."""

    location: str
    copies: int
    available: int


@dataclass(frozen=True)
class TitleHit:
    """One title found: what to show and where to walk to.

    `copies` counts the library's copies (not lost or withdrawn), `available` those on the
    shelf now; `location` is where the available copies stand (else where copies belong).
    """

    title_id: int
    title: str
    author: str
    isbn13: str | None
    call_number: str
    location: str
    copies: int
    available: int
    shelves: tuple[Shelf, ...]
    tier: int

    def as_json(self) -> dict[str, Any]:
        """The result shape of GET /api/search and GET /api/v1/search."""
        return {
            "title_id": self.title_id,
            "title": self.title,
            "author": self.author,
            "isbn13": self.isbn13,
            "call_number": self.call_number,
            "location": self.location,
            "copies": self.copies,
            "available": self.available,
        }


def parse_query_args(query: str | None, limit: str | None) -> tuple[str, int] | str:
    """(query, limit) from a request's `q` and `limit` arguments, or the message saying
    what is wrong with them (for a 400 reply)."""
    query = query or ""
    if len(query) > MAX_QUERY_CHARS:
        return f"q is longer than {MAX_QUERY_CHARS} characters"
    raw_limit = str(DEFAULT_LIMIT) if limit is None else limit
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return f"limit must be a whole number from 1 to {MAX_LIMIT}"
    return query, int(raw_limit)


def search_titles(session: Session, query: str, *, limit: int = 20) -> list[TitleHit]:
    """The titles `query` finds, best first, at most `limit` (1..MAX_LIMIT).

    `query` may be any part of a title, author, series, publisher or subject (Chinese of any
    length, Latin words as typed, full-width or not), an ISBN in any form, a 统一书号 (books
    printed before ISBNs: "10019·3152", typed with a full stop or a space), the start of a call
    number, or pinyin (full, spaced or not, or initials) of the start of a title or author name.
    Candidates are ranked on what the index rows hold; only the `limit` best are read in full.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    key = compact(query)
    if not key:
        return []
    db = session.connection()
    isbn13 = query_isbn13(query)
    unified = query_unified_number(query)
    call = call_number_key(query) if looks_like_call_number(key) else None
    wanted = phrase(query)
    # Stored keys stop at MAX_PINYIN_KEY_CHARS; the whole pinyin of a long title is compared
    # as far as they go.
    typed = key[:MAX_PINYIN_KEY_CHARS] if is_pinyin_query(key) else None
    params: dict[str, Any] = {"k": CANDIDATES_PER_WAY, **_range("title", key)}
    upper = [_WAY_TITLE]
    if isbn13 is not None:
        upper.append(_WAY_ISBN)
        params["isbn13"] = isbn13
    if unified is not None:
        upper.append(_WAY_UNIFIED)
        params["unified_number"] = unified
    if call is not None:
        upper.append(_WAY_CALL)
        params.update(_range("call", call))
    lower = []
    if wanted is not None:
        lower.append(_WAY_TEXT)
        params["q"] = wanted.tsquery() if db.dialect.name == "postgresql" else wanted.fts5()
    if typed is not None:
        lower.append(_WAY_PINYIN)
        params.update(_range("pinyin", typed))

    found = _Candidates()
    # The ways that find exact and prefix matches first, in one statement. Every other way
    # ranks its titles below these, so when they fill the page the others cannot change it
    # and are not asked: a broad query ("小") is answered from the title index alone.
    rows = _read(db, upper, params)
    found.offer(_ids(rows.get(_WAY_ISBN, ())), EXACT)
    found.offer(_ids(rows.get(_WAY_UNIFIED, ())), EXACT)
    found.offer(_ids(rows.get(_WAY_TITLE, ())), PREFIX)
    found.offer(((i, k, a) for i, (k, a) in found.rows() if k == key), EXACT)
    found.offer(_ids(rows.get(_WAY_CALL, ())), PREFIX)
    if len(found.ranks) < limit and lower:
        rows = _read(db, lower, params)
        in_text = _ids(rows.get(_WAY_TEXT, ()))
        found.offer(((i, k, a) for i, k, a in in_text if key in k), TITLE_SUBSTRING)
        found.offer(in_text, OTHER_SUBSTRING)
        for row in rows.get(_WAY_PINYIN, ()):
            in_title = row.field in (PinyinField.TITLE_FULL, PinyinField.TITLE_INITIALS)
            found.offer(
                [(row.title_id, row.title_key, row.on_shelf)],
                PINYIN_TITLE if in_title else PINYIN_AUTHOR,
                0 if row.pinyin_key == typed else 1,
            )
    if not found.ranks:
        return []
    best = sorted(
        found.ranks,
        key=lambda i: (found.ranks[i], not found.on_shelf[i], len(found.keys[i]), i),
    )[:limit]
    hits = {hit.title_id: hit for hit in _hits(session, best, found.ranks)}
    return [hits[i] for i in best if i in hits]


def _read(db: Connection, ways: list[int], params: dict[str, Any]) -> dict[int, list[Any]]:
    """The candidate rows of `ways`, read in one statement, per way."""
    rows: dict[int, list[Any]] = {}
    # .all(): one fetch of the whole result; iterating a result fetches row by row.
    for row in db.execute(_candidates_statement(db.dialect.name, tuple(ways)), params).all():
        rows.setdefault(row.way, []).append(row)
    return rows


def _ids(rows: Iterable[Any]) -> list[tuple[int, str, bool]]:
    return [(row.title_id, row.title_key, bool(row.on_shelf)) for row in rows]


class _Candidates:
    """Titles found so far: each one's best (tier, sub-rank), title key and whether a copy
    is on the shelf (every candidate query reads that in the database, row by row)."""

    def __init__(self) -> None:
        self.ranks: dict[int, tuple[int, int]] = {}
        self.keys: dict[int, str] = {}
        self.on_shelf: dict[int, bool] = {}

    def offer(self, rows: Iterable[Any], tier: int, sub: int = 0) -> None:
        for title_id, title_key, on_shelf in rows:
            if (tier, sub) < self.ranks.get(title_id, (99, 0)):
                self.ranks[title_id] = (tier, sub)
                self.keys[title_id] = title_key
                self.on_shelf[title_id] = bool(on_shelf)

    def rows(self) -> list[tuple[int, tuple[str, bool]]]:
        return [(i, (k, self.on_shelf[i])) for i, k in self.keys.items()]


def title_by_id(session: Session, title_id: int) -> TitleHit | None:
    """One title with its copies per location (the OPAC's title page), or None."""
    hits = _hits(session, [title_id], {title_id: (EXACT, 0)})
    return hits[0] if hits else None


def _range(name: str, key: str) -> dict[str, Any]:
    """Bounds of a prefix as a range scan: every string that starts with `key` (byte order),
    as the parameters `name`_low and `name`_high."""
    return {f"{name}_low": key, f"{name}_high": key[:-1] + chr(ord(key[-1]) + 1)}


# The ways of matching, as the candidate statement tags its rows.
_WAY_ISBN, _WAY_UNIFIED, _WAY_TITLE, _WAY_CALL, _WAY_TEXT, _WAY_PINYIN = range(6)

# Whether the candidate has a copy on the shelf: one index probe per row inside the query,
# cheaper than a second round trip with the candidates' ids.
_ON_SHELF = (
    exists()
    .where(Item.title_id == TitleSearch.title_id, Item.status == ItemStatus.AVAILABLE.value)
    .label("on_shelf")
)
_CANDIDATE = (TitleSearch.title_id, TitleSearch.title_key, _ON_SHELF)
# The prefix ways read their range in key order, which the index gives for free: the same query
# then reads the same candidates every time. Without the order PostgreSQL reads a broad prefix
# ("十万") by scanning the table, from wherever another scan of it has got to (synchronized
# scans), and a page of results changed from one keystroke to the next.
_BY_ISBN = (
    select(*_CANDIDATE)
    .join(Title, Title.id == TitleSearch.title_id)
    .where(Title.isbn13 == bindparam("isbn13"))
)
_BY_UNIFIED_NUMBER = (
    select(*_CANDIDATE)
    .join(Title, Title.id == TitleSearch.title_id)
    .where(Title.unified_number == bindparam("unified_number"))
)
_TITLE_PREFIX = (
    select(*_CANDIDATE)
    .where(
        TitleSearch.title_key >= bindparam("title_low"),
        TitleSearch.title_key < bindparam("title_high"),
    )
    .order_by(TitleSearch.title_key)
    .limit(bindparam("k"))
)
_CALL_PREFIX = (
    select(*_CANDIDATE)
    .where(
        TitleSearch.call_key >= bindparam("call_low"), TitleSearch.call_key < bindparam("call_high")
    )
    .order_by(TitleSearch.call_key)
    .limit(bindparam("k"))
)
_PINYIN_PREFIX = (
    select(*_CANDIDATE, TitlePinyin.field, TitlePinyin.key.label("pinyin_key"))
    .join(TitleSearch, TitleSearch.title_id == TitlePinyin.title_id)
    .where(TitlePinyin.key >= bindparam("pinyin_low"), TitlePinyin.key < bindparam("pinyin_high"))
    .order_by(TitlePinyin.key)
    .limit(bindparam("k"))
)
_FTS_ON_SHELF = (
    "EXISTS (SELECT 1 FROM items WHERE items.title_id = s.title_id"
    f" AND items.status = '{ItemStatus.AVAILABLE.value}')"
)
_FTS_COLUMNS = {"title_id": Integer, "title_key": String, "on_shelf": Boolean}
_FTS_SQLITE = text(
    f"SELECT s.title_id, s.title_key, {_FTS_ON_SHELF} AS on_shelf FROM title_search_fts"
    " JOIN title_search AS s ON s.title_id = title_search_fts.rowid"
    " WHERE title_search_fts MATCH :q LIMIT :k"
).columns(**_FTS_COLUMNS)
# terms_tsv: to_tsvector('simple', terms), stored by PostgreSQL (migration
# 0014_title_search_tsv), so checking a phrase reads it instead of recomputing it.
#
# The phrase goes into the statement as a literal (quoted by SQLAlchemy at execution), not as
# a parameter: psycopg prepares a statement run five times, and PostgreSQL then plans it once
# for any phrase, as a bitmap scan of the GIN index, which reads all 70 000 titles of "的"
# (5.7 ms) where a scan of the table stops after the first 200 (0.6 ms). With the phrase in
# the text every phrase gets the plan its statistics call for.
_FTS_POSTGRES = (
    text(
        f"SELECT s.title_id, s.title_key, {_FTS_ON_SHELF} AS on_shelf FROM title_search AS s"
        " WHERE s.terms_tsv @@ to_tsquery('simple'::regconfig, :q)"
        " LIMIT :k"
    )
    .bindparams(bindparam("q", type_=String, literal_execute=True))
    .columns(**_FTS_COLUMNS)
)


@functools.cache
def _candidates_statement(dialect: str, ways: tuple[int, ...]) -> CompoundSelect[Any]:
    """The candidates of `ways` in one statement: rows of (way, title_id, title_key,
    on_shelf, field, pinyin_key), the last two of pinyin rows only.

    Each way keeps its own LIMIT inside a subquery (SQLite allows no LIMIT on a member of a
    compound select).
    """
    statements = {
        _WAY_ISBN: _BY_ISBN,
        _WAY_UNIFIED: _BY_UNIFIED_NUMBER,
        _WAY_TITLE: _TITLE_PREFIX,
        _WAY_CALL: _CALL_PREFIX,
        _WAY_TEXT: _FTS_POSTGRES if dialect == "postgresql" else _FTS_SQLITE,
        _WAY_PINYIN: _PINYIN_PREFIX,
    }
    members = []
    for way in ways:
        rows = statements[way].subquery(f"way{way}")
        members.append(
            select(
                literal_column(str(way), Integer).label("way"),
                rows.c.title_id,
                rows.c.title_key,
                rows.c.on_shelf,
                # Typed NULLs: PostgreSQL resolves a UNION's column types member by member.
                rows.c.field if way == _WAY_PINYIN else cast(null(), Integer).label("field"),
                rows.c.pinyin_key
                if way == _WAY_PINYIN
                else cast(null(), String).label("pinyin_key"),
            )
        )
    return union_all(*members)


# A title's fields and its copies per location (not lost or withdrawn), one row per title and
# location (a title without copies: one row, location NULL).
_SHELVES = (
    select(
        Item.title_id,
        Item.location,
        func.count().label("copies"),
        func.sum(case((Item.status == ItemStatus.AVAILABLE.value, 1), else_=0)).label("on_shelf"),
    )
    .where(Item.title_id.in_(bindparam("ids", expanding=True)), Item.status.not_in(_GONE))
    .group_by(Item.title_id, Item.location)
    .subquery("shelves")
)
_TITLES = (
    select(
        Title.id,
        Title.title,
        Title.author,
        Title.isbn13,
        Title.call_number,
        _SHELVES.c.location,
        _SHELVES.c.copies,
        _SHELVES.c.on_shelf,
    )
    .outerjoin(_SHELVES, _SHELVES.c.title_id == Title.id)
    .where(Title.id.in_(bindparam("ids", expanding=True)))
)


def _hits(session: Session, ids: list[int], ranks: dict[int, tuple[int, int]]) -> list[TitleHit]:
    shelves: dict[int, list[Shelf]] = {}
    titles: dict[int, Any] = {}
    for row in session.connection().execute(_TITLES, {"ids": ids}).all():
        titles[row.id] = row
        if row.location is not None:
            shelves.setdefault(row.id, []).append(
                Shelf(row.location, row.copies, int(row.on_shelf or 0))
            )
    hits = []
    for title_id, row in titles.items():
        places = sorted(shelves.get(title_id, []), key=lambda s: (-s.available, -s.copies))
        hits.append(
            TitleHit(
                title_id=title_id,
                title=row.title,
                author=row.author,
                isbn13=row.isbn13,
                call_number=row.call_number,
                location=places[0].location if places else "",
                copies=sum(s.copies for s in places),
                available=sum(s.available for s in places),
                shelves=tuple(places),
                tier=ranks[title_id][0],
            )
        )
    return hits


# --- students (console only) -------------------------------------------------------------------


@dataclass(frozen=True)
class StudentHit:
    patron_id: int
    name: str
    student_number: str
    card_barcode: str
    class_name: str
    status: str


def search_students(session: Session, query: str, *, limit: int = 20) -> list[StudentHit]:
    """Students by name (any part, one character too), card number, student number or class
    ("三年级2班", "3-2"), best first: exact matches, then starts, then the rest."""
    limit = max(1, min(limit, MAX_LIMIT))
    typed = normalize(query).strip()
    if not typed:
        return []
    ranks: dict[int, int] = {}

    def offer(ids: Iterable[int], tier: int) -> None:
        for patron_id in ids:
            ranks[patron_id] = min(tier, ranks.get(patron_id, 99))

    # Card and student numbers as typed, and in capitals ("s2026004" is S2026004): the
    # unique indexes answer these without reading the table.
    as_typed = unicodedata.normalize("NFKC", query).strip()
    numbers = {as_typed, as_typed.upper()}
    offer(
        session.scalars(
            select(Patron.id).where(
                Patron.card_barcode.in_(numbers) | Patron.student_number.in_(numbers)
            )
        ),
        0,
    )
    pattern = _like_escape(typed)
    name = func.lower(Patron.name)
    number = func.lower(Patron.student_number)
    offer(session.scalars(select(Patron.id).where(name == typed)), 0)
    offer(session.scalars(_limited(name.like(pattern + "%", escape="\\"))), 1)
    offer(session.scalars(_limited(number.like(pattern + "%", escape="\\"))), 1)
    offer(session.scalars(_limited(name.like("%" + pattern + "%", escape="\\"))), 2)
    wanted_class = class_key(typed)
    if wanted_class is not None:
        classes = [
            c
            for c in session.scalars(select(Patron.class_name).distinct())
            if class_key(c) == wanted_class
        ]
        if classes:
            offer(session.scalars(_limited(Patron.class_name.in_(classes))), 1)
    if not ranks:
        return []
    rows = session.execute(select(Patron).where(Patron.id.in_(list(ranks)))).scalars().all()
    rows = sorted(rows, key=lambda p: (ranks[p.id], len(p.name), p.name, p.id))[:limit]
    return [
        StudentHit(p.id, p.name, p.student_number, p.card_barcode, p.class_name, p.status)
        for p in rows
    ]


def _limited(condition: Any) -> Any:
    return select(Patron.id).where(condition).limit(CANDIDATES_PER_WAY)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
