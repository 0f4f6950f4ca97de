"""Search fixtures: a small catalog in a kiosk SQLite file and in a central PostgreSQL database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from central.db import make_central_session_factory, open_central_engine
from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Item, ItemStatus
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding, upsert_entries

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)

# (title, author, publisher, call number, ISBN-13 or None, copies on the shelf, copies lent)
CATALOG = [
    ("家", "巴金", "人民文学出版社", "I246.5/1", "9787020002207", 1, 0),
    ("春", "巴金", "人民文学出版社", "I246.5/2", None, 1, 0),
    ("家的故事", "王小明", "少年儿童出版社", "I247.8/9", None, 2, 0),
    ("活着", "余华", "作家出版社", "I247.57/1", "9787506365437", 0, 2),
    ("长江", "张大江", "长江文艺出版社", "K928.42/1", None, 1, 0),
    ("银行", "李行", "中信出版社", "F830/1", None, 1, 0),
    ("重庆", "周重", "重庆出版社", "K927.19/1", None, 1, 0),
    ("快乐", "陈乐", "接力出版社", "B821/1", None, 1, 0),
    ("音乐", "冼星海", "人民音乐出版社", "J6/1", None, 1, 0),
    ("小王子", "圣埃克苏佩里", "人民文学出版社", "I565.88/1", "9787020042494", 0, 1),
    ("小王子", "圣埃克苏佩里", "译林出版社", "I565.88/2", "9787544731546", 2, 0),
    ("王子与贫儿", "马克·吐温", "人民文学出版社", "I712.44/1", None, 1, 0),
    ("Harry Potter与魔法石", "J.K.罗琳", "人民文学出版社", "I561.84/1", None, 1, 0),
    ("哈利·波特与魔法石", "J.K.罗琳", "人民文学出版社", "I561.84/2", "9787020033430", 1, 0),
    ("三体", "刘慈欣", "重庆出版社", "I247.55/1", "9787536692930", 1, 0),
    ("西游记", "吴承恩", "人民文学出版社", "I242.4/1", None, 1, 0),
    ("红楼梦", "曹雪芹", "人民文学出版社", "I242.47/1", None, 1, 0),
    ("没头脑和不高兴", "任溶溶", "浙江少年儿童出版社", "I287.5/1", None, 1, 0),
    ("天才在左疯子在右", "高铭", "北京联合出版公司", "C912.6/1", None, 1, 0),
    ("十万个为什么", "少年儿童出版社", "少年儿童出版社", "Z228.1/1", None, 1, 0),
]

# Books printed before ISBNs carry a 统一书号.
UNIFIED_NUMBERS = {"十万个为什么": "R10024·3001"}

# Series and subject headings of a few of them: (series, subjects).
SERIES_AND_SUBJECTS = {
    "三体": ("地球往事三部曲", "科幻小说; 外星文明"),
    "哈利·波特与魔法石": ("哈利·波特系列", "魔幻小说"),
}


@dataclass
class SearchDB:
    kind: str
    engine: Engine
    factory: SessionFactory
    # (title, ISBN or call number) → title id, to name the expected first result.
    ids: dict[tuple[str, str], int]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def search_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchDB]:
    """The catalog above imported through the catalog service: into a kiosk's SQLite file
    (bulk statements), or a central PostgreSQL database (through the change log)."""
    if request.param == "sqlite":
        engine = make_engine(tmp_path / "kiosk.sqlite3")
        upgrade(engine)
        factory = make_session_factory(engine)
    else:
        engine = open_central_engine(request.getfixturevalue("fresh_postgres_url"))
        factory = make_central_session_factory(engine)
    ids = seed_catalog(factory)
    yield SearchDB(request.param, engine, factory, ids)
    engine.dispose()


def seed_catalog(factory: SessionFactory) -> dict[tuple[str, str], int]:
    entries = []
    for n, (title, author, publisher, call, isbn13, shelved, lent) in enumerate(CATALOG):
        holdings = tuple(
            Holding(f"T{n:02d}{c:05d}", f"{call[:1]}区书架") for c in range(shelved + lent)
        )
        series, subjects = SERIES_AND_SUBJECTS.get(title, ("", ""))
        record = CatalogTitle(
            title,
            isbn13,
            author,
            publisher,
            None,
            call,
            "clc",
            series=series,
            subjects=subjects,
            unified_number=UNIFIED_NUMBERS.get(title),
        )
        entries.append(CatalogEntry(record, holdings))
    with factory.begin() as session:
        results = upsert_entries(session, entries, NOW)
        lent_barcodes = [
            f"T{n:02d}{c:05d}"
            for n, row in enumerate(CATALOG)
            for c in range(row[5], row[5] + row[6])
        ]
        session.execute(
            update(Item)
            .where(Item.barcode.in_(lent_barcodes))
            .values(status=ItemStatus.ON_LOAN.value)
        )
    return {
        (row[0], row[4] or row[3]): result.title_id
        for row, result in zip(CATALOG, results, strict=True)
    }
