"""A small demo library (students, Chinese and English books, copies, a hold) for a first run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Hold, HoldStatus, Item, Patron, PatronStatus, Title
from kiosk.search.index import index_missing

# (title, author, publisher, year, call number, classification, copies); ISBNs are made up
# under the 978-7-5xx prefix with valid check digits.
DEMO_TITLES: list[tuple[str, str, str, int, str, str, int]] = [
    ("草房子", "曹文轩", "江苏少年儿童出版社", 2008, "I287.45/C12", "clc", 3),
    ("青铜葵花", "曹文轩", "江苏少年儿童出版社", 2005, "I287.45/C12-2", "clc", 2),
    ("小王子", "圣埃克苏佩里", "人民文学出版社", 2003, "I565.88/S45", "clc", 2),
    ("西游记", "吴承恩", "人民文学出版社", 2010, "I242.4/W83", "clc", 2),
    ("窗边的小豆豆", "黑柳彻子", "南海出版公司", 2011, "I313.88/H43", "clc", 1),
    ("夏洛的网", "E. B. 怀特", "上海译文出版社", 2004, "I712.85/H78", "clc", 2),
    ("城南旧事", "林海音", "中国青年出版社", 2009, "I246.5/L57", "clc", 1),
    ("昆虫记", "法布尔", "中国少年儿童出版社", 2012, "Q96-49/F12", "clc", 1),
    ("十万个为什么：天文", "韩启德 主编", "少年儿童出版社", 2013, "Z228.1/H15", "clc", 1),
    ("稻草人", "叶圣陶", "人民文学出版社", 2008, "I287.7/Y43", "clc", 1),
    ("Charlotte's Web", "E. B. White", "HarperCollins", 2012, "813.52 WHI", "dewey", 1),
    ("Matilda", "Roald Dahl", "Puffin", 2016, "823.914 DAH", "dewey", 1),
    ("Wonder", "R. J. Palacio", "Knopf", 2012, "813.6 PAL", "dewey", 1),
    ("The Very Hungry Caterpillar", "Eric Carle", "Philomel", 1994, "E CAR", "dewey", 1),
]

# (student number, card, name, class, grade)
DEMO_PATRONS: list[tuple[str, str, str, str, str]] = [
    ("S2026001", "20260001", "张小明", "三年级二班", "3"),
    ("S2026002", "20260002", "李华", "三年级二班", "3"),
    ("S2026003", "20260003", "王芳", "四年级一班", "4"),
    ("S2026004", "20260004", "欧阳娜娜", "四年级一班", "4"),
    ("S2026005", "20260005", "陈思远", "五年级三班", "5"),
    ("S2026006", "20260006", "Emily Chen", "Grade 5 Class 3", "5"),
    ("S2026007", "20260007", "Tom Li", "Grade 5 Class 3", "5"),
    ("S2026008", "20260008", "刘洋", "五年级三班", "5"),
]

BLOCKED_CARD = "20260009"


def isbn13_for(index: int) -> str:
    """A made-up but valid ISBN-13 for the demo title at `index`."""
    body = f"978753{index:06d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True)
class DemoInfo:
    card: str
    isbn: str
    item_barcode: str
    patrons: int
    titles: int
    items: int


def library_is_empty(session: Session) -> bool:
    return not (
        session.scalar(select(func.count(Patron.id)))
        or session.scalar(select(func.count(Title.id)))
    )


def seed_demo_library(session: Session, now: dt.datetime) -> DemoInfo:
    """Add the demo students, titles and copies. Caller commits."""
    for number, card, name, class_name, grade in DEMO_PATRONS:
        session.add(
            Patron(
                student_number=number,
                card_barcode=card,
                name=name,
                class_name=class_name,
                grade=grade,
                status=PatronStatus.ACTIVE,
                parent_name="",
                updated_at=now,
            )
        )
    session.add(
        Patron(
            student_number="S2026009",
            card_barcode=BLOCKED_CARD,
            name="赵磊",
            class_name="五年级三班",
            grade="5",
            status=PatronStatus.BLOCKED,
            block_reason="demo: lost book to pay for",
            updated_at=now,
        )
    )
    items = 0
    first_barcode = ""
    for index, (name, author, publisher, year, call, scheme, copies) in enumerate(DEMO_TITLES):
        title = Title(
            isbn13=isbn13_for(index + 1),
            title=name,
            author=author,
            publisher=publisher,
            year=year,
            call_number=call,
            classification=scheme,
            created_at=now,
            updated_at=now,
        )
        session.add(title)
        for _ in range(copies):
            items += 1
            barcode = f"SX{items:05d}"
            first_barcode = first_barcode or barcode
            session.add(
                Item(barcode=barcode, title=title, location=f"Shelf {call[:1]}", created_at=now)
            )
        if index == 1:
            session.flush()
            # Someone is waiting for 青铜葵花: the last copy on the shelf is kept for them.
            waiting = session.scalar(select(Patron).where(Patron.card_barcode == "20260005"))
            assert waiting is not None
            session.add(
                Hold(
                    title_id=title.id,
                    patron_id=waiting.id,
                    status=HoldStatus.WAITING,
                    placed_at=now,
                )
            )
    session.flush()
    index_missing(session)
    return DemoInfo(
        card=DEMO_PATRONS[0][1],
        isbn=isbn13_for(1),
        item_barcode=first_barcode,
        patrons=len(DEMO_PATRONS) + 1,
        titles=len(DEMO_TITLES),
        items=items,
    )
