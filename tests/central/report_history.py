"""A known library history for the reports' tests: who borrowed what when, kept in plain lists so
the tests can count the expected figures themselves, and written into a real central database."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from db.central_models import CentralEvent, EventState
from db.models import Item, Loan, Patron, PatronStatus, Title

SHANGHAI = ZoneInfo("Asia/Shanghai")

# (grade column, class column, the class the test means: grade, number). Two spellings of one
# class, a class named only with the grade column, and a teacher without a class.
ROSTER_CLASSES = [
    ("", "三年级2班", (3, 2)),
    ("", "3-2", (3, 2)),
    ("三年级", "1班", (3, 1)),
    ("", "四年级(1)班", (4, 1)),
    ("", "初一(3)班", (7, 3)),
    ("", "Grade 4 Class 2", (4, 2)),
    ("", "", None),
]
SOURCES = ["kiosk-1", "kiosk-2", "desk"]


@dataclass
class PatronFact:
    id: int
    student_number: str
    class_of: tuple[int, int] | None
    left: bool


@dataclass
class LoanFact:
    patron_id: int
    title_id: int
    item_id: int
    at: dt.datetime
    source: str


@dataclass
class VisitFact:
    patron_id: int
    at: dt.datetime
    source: str


@dataclass
class History:
    patrons: list[PatronFact] = field(default_factory=list)
    titles: dict[int, dt.datetime] = field(default_factory=dict)  # id → added at
    title_names: dict[int, str] = field(default_factory=dict)
    loans: list[LoanFact] = field(default_factory=list)
    visits: list[VisitFact] = field(default_factory=list)

    def patron(self, patron_id: int) -> PatronFact:
        return next(p for p in self.patrons if p.id == patron_id)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI).astimezone(dt.UTC)


def build_history(
    session: Session,
    *,
    seed: int = 7,
    students_per_class: int = 4,
    loans: int = 160,
    visits: int = 60,
    first_day: dt.date = dt.date(2025, 9, 1),
    last_day: dt.date = dt.date(2027, 8, 31),
) -> History:
    """Write a random but reproducible history; caller commits."""
    rng = random.Random(seed)
    history = History()
    patrons = []
    number = 20260000
    for grade_text, class_text, meant in ROSTER_CLASSES:
        for i in range(students_per_class):
            number += 1
            left = meant is not None and i == students_per_class - 1 and class_text == "3-2"
            patrons.append(
                Patron(
                    student_number=str(number),
                    card_barcode=f"C{number}",
                    name=f"学生{number}",
                    grade=grade_text,
                    class_name=class_text,
                    status=PatronStatus.LEFT if left else PatronStatus.ACTIVE,
                )
            )
            history.patrons.append(PatronFact(0, str(number), meant, left))
    session.add_all(patrons)
    session.flush()
    for fact, row in zip(history.patrons, patrons, strict=True):
        fact.id = row.id
    titles, items = [], []
    span_days = (last_day - first_day).days
    for t in range(12):
        added = local(first_day + dt.timedelta(days=rng.randrange(span_days)), 10)
        title = Title(
            title=f"=书{t:02d}" if t == 0 else f"书名{t:02d}",
            author=f"作者{t}",
            call_number=f"I287/{t}",
            created_at=added,
        )
        titles.append(title)
    session.add_all(titles)
    session.flush()
    for title in titles:
        assert title.created_at is not None
        history.titles[title.id] = title.created_at
        history.title_names[title.id] = title.title
        for c in range(2):
            items.append(
                Item(barcode=f"SX{title.id:03d}{c}", title_id=title.id, created_at=title.created_at)
            )
    session.add_all(items)
    session.flush()
    item_title = {i.id: i.title_id for i in items}
    for _ in range(loans):
        patron = rng.choice(history.patrons)
        item_id = rng.choice(list(item_title))
        day = first_day + dt.timedelta(days=rng.randrange(span_days))
        # Some loans just after midnight Shanghai time: the previous day in UTC.
        at = local(day, rng.choice([0, 8, 12, 16, 23]), rng.randrange(60))
        source = rng.choice(SOURCES)
        history.loans.append(LoanFact(patron.id, item_title[item_id], item_id, at, source))
    # The edge of a month in the library's zone: 00:30 on 1 December is 30 November in UTC.
    edge = history.patrons[0]
    edge_item = next(iter(item_title))
    history.loans.append(
        LoanFact(
            edge.id, item_title[edge_item], edge_item, local(dt.date(2026, 12, 1), 0, 30), "kiosk-1"
        )
    )
    session.add_all(
        Loan(
            uuid=str(uuid.uuid4()),
            item_id=f.item_id,
            patron_id=f.patron_id,
            checked_out_at=f.at,
            due_at=f.at + dt.timedelta(days=14),
            returned_at=f.at + dt.timedelta(days=7),
            kiosk_id=f.source,
        )
        for f in history.loans
    )
    for sequence in range(visits):
        patron = rng.choice(history.patrons)
        day = first_day + dt.timedelta(days=rng.randrange(span_days))
        at = local(day, rng.choice([7, 12, 15]))
        source = rng.choice(SOURCES[:2])
        history.visits.append(VisitFact(patron.id, at, source))
        session.add(
            CentralEvent(
                event_id=str(uuid.uuid4()),
                kiosk_id=source,
                epoch="e",
                sequence=sequence + 1,
                kind="visit",
                payload=json.dumps({"kind": "visit", "student_number": patron.student_number}),
                recorded_at=at,
                received_at=at,
                state=EventState.APPLIED,
            )
        )
    # A visit a kiosk sent twice is kept once as a duplicate and must not count.
    duplicate = history.visits[0]
    session.add(
        CentralEvent(
            event_id=str(uuid.uuid4()),
            kiosk_id=duplicate.source,
            epoch="e",
            sequence=visits + 1,
            kind="visit",
            payload=json.dumps(
                {"student_number": history.patron(duplicate.patron_id).student_number}
            ),
            recorded_at=duplicate.at + dt.timedelta(days=1),
            received_at=duplicate.at,
            state=EventState.DUPLICATE,
        )
    )
    session.flush()
    return history
