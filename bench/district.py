"""A district-sized library in a central database, for benchmarks: students in classes, a catalogue, two school years of loans and sign-ins.

`build(engine, scale)` fills a migrated central database with plain Core inserts (the data is
made up, so the change log that tells kiosks about changes is not written). The same `seed`
always gives the same library. `cached_sqlite(scale)` keeps a built SQLite file under var/bench/
(git-ignored) and reuses it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select

from central.db import open_central_engine
from db.central_models import CentralEvent, EventState
from db.models import Item, Loan, Patron, Title

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "var" / "bench"
ZONE = ZoneInfo("Asia/Shanghai")
FIRST_DAY = dt.date(2025, 9, 1)
LAST_DAY = dt.date(2027, 8, 31)
SOURCES = ("kiosk-1", "kiosk-2", "kiosk-3", "desk")
GRADES = (
    "一年级",
    "二年级",
    "三年级",
    "四年级",
    "五年级",
    "六年级",
    "初一",
    "初二",
    "初三",
    "高一",
    "高二",
    "高三",
)
BATCH = 20_000


@dataclass(frozen=True)
class Scale:
    students: int = 10_000
    classes: int = 300
    titles: int = 100_000
    copies: int = 200_000
    loans: int = 2_000_000
    visits: int = 600_000

    def divided(self, by: int) -> Scale:
        return Scale(*(max(1, getattr(self, f) // by) for f in self.__dataclass_fields__))

    @property
    def name(self) -> str:
        return f"s{self.students}-c{self.copies}-l{self.loans}"


DISTRICT = Scale()


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _school_days(rng: random.Random) -> list[dt.date]:
    """Weekdays of the two school years, term days several times as likely as holidays."""
    days = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        if day.weekday() < 5:
            holiday = (
                day.month in (7, 8)
                or (day.month == 1 and day.day > 20)
                or (day.month == 2 and day.day < 20)
            )
            days += [day] * (1 if holiday else 6)
        day += dt.timedelta(days=1)
    return days


def _at(rng: random.Random, day: dt.date) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(rng.randrange(7, 17), rng.randrange(60)), ZONE)
    return local.astimezone(dt.UTC)


def build(engine: Engine, scale: Scale = DISTRICT, seed: int = 7) -> None:
    """Fill a migrated, empty central database."""
    rng = random.Random(seed)
    per_grade = max(1, scale.classes // len(GRADES))
    classes = [f"{grade}{n}班" for grade in GRADES for n in range(1, per_grade + 1)][
        : scale.classes
    ]
    created = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Patron.__table__),
            [
                {
                    "student_number": f"S{i:07d}",
                    "card_barcode": f"{20250000000 + i}",
                    "name": f"学生{i}",
                    "class_name": classes[i % len(classes)],
                    "grade": "",
                    "status": "left" if i % 97 == 0 else "active",
                    "block_reason": "",
                    "parent_name": "",
                    "parent_phone": "",
                    "parent_email": "",
                    "opac_pin_hash": "",
                }
                for i in range(1, scale.students + 1)
            ],
        )
        span_s = int((dt.datetime(2027, 8, 31, tzinfo=dt.UTC) - created).total_seconds())
        for batch in _batches(
            {
                "title": f"书名{i}",
                "author": f"作者{i % 5000}",
                "publisher": "",
                "call_number": f"I287/{i}",
                "classification": "",
                "series": "",
                "subjects": "",
                "isbn13": None,
                "created_at": created + dt.timedelta(seconds=rng.randrange(span_s)),
            }
            for i in range(1, scale.titles + 1)
        ):
            conn.execute(insert(Title.__table__), batch)
        for batch in _batches(
            {
                "barcode": f"SX{i:08d}",
                "title_id": 1 + (i % scale.titles),
                "location": "",
                "status": "available",
                "created_at": created,
            }
            for i in range(1, scale.copies + 1)
        ):
            conn.execute(insert(Item.__table__), batch)
        patron_ids = list(conn.scalars(select(Patron.id)))
        item_ids = list(conn.scalars(select(Item.id)))
        numbers = {
            pid: number for pid, number in conn.execute(select(Patron.id, Patron.student_number))
        }
    days = _school_days(rng)
    # Popular books are popular: a quarter of the loans go to 2% of the copies.
    hot = item_ids[: max(1, len(item_ids) // 50)]

    def loans() -> Iterator[dict[str, Any]]:
        for _ in range(scale.loans):
            at = _at(rng, rng.choice(days))
            yield {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "item_id": rng.choice(hot) if rng.random() < 0.25 else rng.choice(item_ids),
                "patron_id": rng.choice(patron_ids),
                "checked_out_at": at,
                "due_at": at + dt.timedelta(days=14),
                "returned_at": at + dt.timedelta(days=rng.randrange(1, 20)),
                "renewals": 0,
                "kiosk_id": rng.choice(SOURCES),
                "returned_kiosk_id": rng.choice(SOURCES),
            }

    def visits() -> Iterator[dict[str, Any]]:
        for sequence in range(1, scale.visits + 1):
            at = _at(rng, rng.choice(days))
            kiosk = rng.choice(SOURCES[:3])
            yield {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "kiosk_id": kiosk,
                "epoch": "bench",
                "sequence": sequence,
                "kind": "visit",
                "loan_uuid": None,
                "payload": json.dumps(
                    {"kind": "visit", "student_number": numbers[rng.choice(patron_ids)]}
                ),
                "recorded_at": at,
                "received_at": at,
                "state": EventState.APPLIED.value,
                "time_doubtful": False,
                "applied_at": at,
            }

    with engine.begin() as conn:
        for batch in _batches(loans()):
            conn.execute(insert(Loan.__table__), batch)
        for batch in _batches(visits()):
            conn.execute(insert(CentralEvent.__table__), batch)


def count_loans(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count(Loan.id))) or 0)


def cached_sqlite(scale: Scale = DISTRICT, seed: int = 7) -> Path:
    """A built SQLite central database for `scale`, made once and kept under var/bench/."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"district-{scale.name}-{seed}.sqlite3"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = open_central_engine(str(partial))
    try:
        build(engine, scale, seed)
    finally:
        engine.dispose()
    partial.rename(path)
    return path
