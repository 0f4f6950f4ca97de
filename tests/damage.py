"""Damage real SQLite files the way disks and careless copies do, for the start-up tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def checkpoint(path: Path) -> None:
    """Move every commit from the -wal into the main file, so damage to it is what SQLite reads."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def table_pages(path: Path, table: str) -> list[int]:
    """The page numbers of `table`'s b-tree, root first (from the dbstat virtual table)."""
    db = sqlite3.connect(path)
    try:
        root = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()[0]
        others = [
            row[0]
            for row in db.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pageno != ? ORDER BY pageno",
                (table, root),
            )
        ]
    finally:
        db.close()
    return [root, *others]


def page_size(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA page_size").fetchone()[0])
    finally:
        db.close()


def overwrite_page_bytes(path: Path, page: int, offset: int, data: bytes) -> None:
    """Write `data` at `offset` inside page `page` (1-based) of the file, as a bad sector might."""
    checkpoint(path)
    size = page_size(path)
    with path.open("r+b") as fh:
        fh.seek((page - 1) * size + offset)
        fh.write(data)


def damage_table(path: Path, table: str, page_index: int = 0) -> int:
    """Scribble over the cell pointers of one of `table`'s pages; returns the page number.

    Offset 8 is where a leaf page's cell pointer array starts (12 on an interior page): the
    rows on that page can no longer be found, though the file still opens.
    """
    page = table_pages(path, table)[page_index]
    overwrite_page_bytes(path, page, 8, bytes(range(200, 256)) * 2)
    return page


def replace_in_table(path: Path, table: str, old: bytes, new: bytes) -> int:
    """Change bytes of a row in place (same length) on the page of `table` that holds them.

    The b-tree stays well formed; only the indexes no longer match. Returns the page number.
    """
    assert len(old) == len(new)
    checkpoint(path)
    size = page_size(path)
    with path.open("r+b") as fh:
        for page in table_pages(path, table):
            fh.seek((page - 1) * size)
            content = fh.read(size)
            if old in content:
                fh.seek((page - 1) * size + content.index(old))
                fh.write(new)
                return page
    raise AssertionError(f"{old!r} is on no page of {table}")
