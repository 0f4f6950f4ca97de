"""Hypothesis strategies for what reaches Shuxiang from outside: scans, pushed events, import rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st
from stdnum import ean

from kiosk.services.demo import BLOCKED_CARD, DEMO_PATRONS, isbn13_for

DEMO_CARDS = [card for _, card, *_ in DEMO_PATRONS] + [BLOCKED_CARD]
DEMO_STUDENTS = [number for number, *_ in DEMO_PATRONS]
DEMO_ITEMS = [f"SX{n:05d}" for n in range(1, 15)]
DEMO_ISBNS = [isbn13_for(n) for n in range(1, 15)]

# --- scan codes -------------------------------------------------------------------------------


def _with_check_digit(first12: str) -> str:
    return first12 + ean.calc_check_digit(first12)


isbn13s = st.builds(
    _with_check_digit,
    st.sampled_from(["978", "979"]).flatmap(
        lambda prefix: st.text("0123456789", min_size=9, max_size=9).map(lambda d: prefix + d)
    ),
)
card_numbers = st.text("0123456789", min_size=8, max_size=12)
accession_barcodes = st.builds(
    lambda letters, digits: letters + digits,
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4),
    st.text("0123456789", min_size=4, max_size=10),
)
known_codes = st.sampled_from(DEMO_CARDS + DEMO_ITEMS + DEMO_ISBNS)


@st.composite
def scanner_dressing(draw: st.DrawFn, code: str) -> str:
    """What scanners add around a code: an AIM identifier, a price add-on, line endings."""
    if draw(st.booleans()):
        code = draw(st.sampled_from(["]E0", "]E3", "]C0", "]A0"])) + code
    if len(code) == 13 and draw(st.booleans()):
        code += draw(
            st.text("0123456789", min_size=2, max_size=5).filter(lambda s: len(s) in (2, 5))
        )
    return code + draw(st.sampled_from(["", "\r", "\n", "\r\n", " ", "\t"]))


scan_codes = st.one_of(
    known_codes.flatmap(scanner_dressing),
    st.one_of(isbn13s, card_numbers, accession_barcodes).flatmap(scanner_dressing),
    # A student's fingers on the keypad, a confused scanner, or someone probing the API.
    st.text(max_size=80),
    st.text(st.characters(codec="utf-8"), min_size=100, max_size=1024),
)

# --- sync events (docs/sync-protocol.md) ---------------------------------------------------------

_TIMES = st.datetimes(
    min_value=dt.datetime(2026, 9, 1), max_value=dt.datetime(2027, 7, 1), timezones=st.just(dt.UTC)
)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


@st.composite
def event_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """One event's own fields (kind and what that kind needs), without kiosk, epoch, sequence."""
    kind = draw(st.sampled_from(["checkout", "checkin", "renewal", "visit"]))
    at = draw(_TIMES)
    item = draw(st.one_of(st.sampled_from(DEMO_ITEMS), accession_barcodes))
    student = draw(
        st.one_of(st.sampled_from(DEMO_STUDENTS), st.text("S0123456789", min_size=1, max_size=12))
    )
    loan = str(draw(st.uuids()))
    body: dict[str, Any] = {
        "event_id": str(draw(st.uuids())),
        "kind": kind,
        "recorded_at": _iso(at),
    }
    if kind == "checkout":
        body |= {
            "loan_uuid": loan,
            "item_barcode": item,
            "isbn13": draw(st.one_of(st.none(), st.sampled_from(DEMO_ISBNS))),
            "student_number": student,
            "checked_out_at": _iso(at),
            "due_at": _iso(at + dt.timedelta(days=draw(st.integers(1, 60)))),
        }
    elif kind == "checkin":
        body |= {
            "loan_uuid": loan,
            "item_barcode": item,
            "returned_at": _iso(at),
            "hold_id": draw(st.one_of(st.none(), st.integers(1, 2**31))),
        }
    elif kind == "renewal":
        body |= {
            "loan_uuid": loan,
            "item_barcode": item,
            "due_at": _iso(at + dt.timedelta(days=14)),
            "renewals": draw(st.integers(0, 20)),
        }
    else:
        body |= {"student_number": student}
    return body


@st.composite
def push_bodies(draw: st.DrawFn, kiosk_id: str, max_events: int = 30) -> dict[str, Any]:
    """A well-formed push: one epoch, sequences 1..n in order (docs/sync-protocol.md, Push)."""
    epoch = str(draw(st.uuids()))
    bodies = draw(st.lists(event_bodies(), min_size=0, max_size=max_events))
    events = [
        body | {"kiosk_id": kiosk_id, "epoch": epoch, "sequence": n}
        for n, body in enumerate(bodies, start=1)
    ]
    return {"kiosk_id": kiosk_id, "epoch": epoch, "sent_at": _iso(draw(_TIMES)), "events": events}


def renamed(body: dict[str, Any]) -> dict[str, Any]:
    """`body` under a new epoch with new event ids, so that pushes drawn in one run never collide
    (Hypothesis draws the same small ids again and again while it shrinks)."""
    epoch = str(uuid.uuid4())
    events = body.get("events")
    if isinstance(body.get("epoch"), str):
        body = body | {"epoch": epoch}
    if isinstance(events, list):
        body = body | {
            "events": [
                e | {"epoch": epoch, "event_id": str(uuid.uuid4())}
                if isinstance(e, dict) and isinstance(e.get("epoch"), str)
                else e
                for e in events
            ]
        }
    return body


# A value of the wrong kind for any field: what a broken or hostile kiosk might send.
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=100),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)

# --- import rows ---------------------------------------------------------------------------------

STUDENT_HEADER = ["学号", "卡号", "姓名", "班级", "年级", "家长姓名", "家长电话", "家长邮箱"]
CATALOG_HEADER = ["isbn", "title", "author", "publisher", "year", "call_number", "barcode"]

_cell_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40)
_chinese_names = st.text("张王李赵刘陈杨黄周吴小明华芳娜思远洋䶮欧阳", min_size=1, max_size=4)


@st.composite
def student_rows(draw: st.DrawFn) -> list[str]:
    """A student roster row: mostly plausible, sometimes wrong in any cell."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(_cell_text, min_size=0, max_size=10))
    return [
        draw(st.one_of(st.text("S0123456789", min_size=1, max_size=12), _cell_text)),
        draw(st.one_of(card_numbers, _cell_text)),
        draw(st.one_of(_chinese_names, _cell_text)),
        draw(st.one_of(st.just("三年级二班"), _cell_text)),
        draw(st.one_of(st.integers(1, 9).map(str), _cell_text)),
        draw(st.one_of(_chinese_names, st.just(""))),
        draw(st.one_of(st.text("0123456789", min_size=11, max_size=11), st.just(""), _cell_text)),
        draw(st.one_of(st.emails(), st.just(""), _cell_text)),
    ]


@st.composite
def catalog_rows(draw: st.DrawFn) -> list[str]:
    """A catalog row: an ISBN, a title, a copy's barcode; sometimes wrong in any cell."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(_cell_text, min_size=0, max_size=10))
    return [
        draw(st.one_of(isbn13s, st.just(""), _cell_text)),
        draw(st.one_of(_chinese_names, _cell_text)),
        draw(st.one_of(_chinese_names, st.just(""))),
        draw(st.one_of(st.just("人民文学出版社"), st.just(""))),
        draw(st.one_of(st.integers(1450, 2100).map(str), st.just(""), _cell_text)),
        draw(st.one_of(st.just("I287.45/1"), st.just(""))),
        draw(st.one_of(accession_barcodes, st.just(""), _cell_text)),
    ]


@st.composite
def marc_records(draw: st.DrawFn) -> Any:
    """A MARC21 record with an ISBN, a title and holdings; fields may be missing or odd."""
    import pymarc

    record = pymarc.Record(force_utf8=True)
    fields = []
    if draw(st.booleans()):
        fields.append(
            pymarc.Field(
                tag="020",
                indicators=[" ", " "],
                subfields=[pymarc.Subfield("a", draw(st.one_of(isbn13s, _cell_text.filter(bool))))],
            )
        )
    if draw(st.integers(0, 5)):
        fields.append(
            pymarc.Field(
                tag="245",
                indicators=["1", "0"],
                subfields=[
                    pymarc.Subfield("a", draw(st.one_of(_chinese_names, _cell_text.filter(bool))))
                ],
            )
        )
    for _ in range(draw(st.integers(0, 3))):
        fields.append(
            pymarc.Field(
                tag="852",
                indicators=[" ", " "],
                subfields=[
                    pymarc.Subfield(
                        "p", draw(st.one_of(accession_barcodes, _cell_text.filter(bool)))
                    )
                ],
            )
        )
    for field in fields:
        record.add_field(field)
    return record
