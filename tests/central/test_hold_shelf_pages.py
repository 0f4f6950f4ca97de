"""The hold-shelf list a page at a time: each section's totals, later pages, and a page past the end."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.hold_shelf import hold_shelf
from db.models import Hold, HoldStatus, Item, ItemStatus, Patron, Title
from kiosk.policies import hold_policy
from tests.central.conftest import CentralDB
from tests.central.console_support import add_staff, signed_in
from tests.conftest import FakeClock, make_settings

HOLDS = hold_policy(make_settings(Path("/nonexistent")))
# Titles added here, each with one copy; their call numbers sort before the demo library's.
TO_PULL, ON_SHELF = 120, 70


def fill_shelf(s: Session, now: dt.datetime) -> None:
    """120 copies to pull (added in no particular call-number order) and 70 set aside, one
    every three hours back from `now`, so the oldest have had their time."""
    patrons = list(s.scalars(select(Patron.id).order_by(Patron.id)))
    for n in reversed(range(TO_PULL)):
        title = Title(title=f"待取{n:03d}", call_number=f"A{n:03d}")
        s.add(title)
        s.flush()
        s.add(Item(barcode=f"PULL{n:03d}", title_id=title.id, status=ItemStatus.AVAILABLE))
        s.add(
            Hold(
                title_id=title.id,
                patron_id=patrons[n % len(patrons)],
                status=HoldStatus.WAITING,
                placed_at=now - dt.timedelta(days=1),
            )
        )
    for n in range(ON_SHELF):
        title = Title(title=f"架上{n:03d}", call_number=f"B{n:03d}")
        s.add(title)
        s.flush()
        copy = Item(barcode=f"SHELF{n:03d}", title_id=title.id, status=ItemStatus.ON_HOLD_SHELF)
        s.add(copy)
        s.flush()
        s.add(
            Hold(
                title_id=title.id,
                patron_id=patrons[n % len(patrons)],
                item_id=copy.id,
                status=HoldStatus.READY,
                placed_at=now - dt.timedelta(days=30),
                # SHELF000 set aside most recently, SHELF069 longest ago.
                ready_at=now - dt.timedelta(hours=3 * n),
            )
        )


@pytest.fixture
def busy_shelf(central_db: CentralDB, library: Any, clock: FakeClock) -> None:
    with central_db.factory.begin() as s:
        fill_shelf(s, clock())


def expected_expiring(central_db: CentralDB, now: dt.datetime) -> list[str]:
    """The copies whose time is up today or before, asked of each copy one by one."""
    with central_db.factory() as s:
        whole = hold_shelf(s, HOLDS, now, per_page=10_000)
    today = HOLDS.calendar.local_date(now)
    return [
        h.item_barcode
        for h in whole.waiting.rows
        if HOLDS.calendar.local_date(h.expires_at) <= today
    ]


def test_each_section_is_paged_with_its_total(central_db: CentralDB, busy_shelf, clock):
    with central_db.factory() as s:
        first = hold_shelf(s, HOLDS, clock(), per_page=50)
        second = hold_shelf(s, HOLDS, clock(), pull_page=2, shelf_page=2, per_page=50)
    # The demo library's own 陈思远 waits for 青铜葵花 too.
    assert first.to_pull.total == TO_PULL + 1 and first.to_pull.pages == 3
    assert first.waiting.total == ON_SHELF and first.waiting.pages == 2
    # A walk along the shelves: by call number, the second page going on where the first ends.
    assert [p.call_number for p in first.to_pull.rows] == [f"A{n:03d}" for n in range(50)]
    assert [p.call_number for p in second.to_pull.rows] == [f"A{n:03d}" for n in range(50, 100)]
    assert (second.to_pull.first, second.to_pull.last) == (51, 100)
    # The hold shelf in the order the copies were set aside: the longest waiting first.
    assert [h.item_barcode for h in first.waiting.rows] == [
        f"SHELF{n:03d}" for n in range(69, 19, -1)
    ]
    assert [h.item_barcode for h in second.waiting.rows] == [
        f"SHELF{n:03d}" for n in range(19, -1, -1)
    ]
    expiring = expected_expiring(central_db, clock())
    assert 0 < len(expiring) < ON_SHELF
    assert first.expiring_today.total == len(expiring)
    assert [h.item_barcode for h in first.expiring_today.rows] == expiring[:50]


def test_a_page_past_the_end_shows_the_last_page(central_db: CentralDB, busy_shelf, clock):
    with central_db.factory() as s:
        past = hold_shelf(s, HOLDS, clock(), pull_page=99, shelf_page=5, per_page=50)
        low = hold_shelf(s, HOLDS, clock(), pull_page=-3, per_page=50)
    assert (past.to_pull.number, past.to_pull.total, len(past.to_pull.rows)) == (3, 121, 21)
    assert past.waiting.number == 2 and past.waiting.rows[-1].item_barcode == "SHELF000"
    assert low.to_pull.number == 1 and low.to_pull.rows[0].call_number == "A000"


def test_the_page_shows_totals_and_leads_to_the_next_rows(
    central_app: Flask, central_db: CentralDB, busy_shelf, clock: FakeClock
):
    browser = signed_in(central_app, add_staff(central_db, clock)["helper"])
    page = browser.get("/hold-shelf?shelf_page=2").get_data(as_text=True)
    to_pull = page[page.index('id="to-pull"') : page.index('id="expiring"')]
    waiting = page[page.index('id="waiting"') :]
    assert "需从书架取下的书（121）" in to_pull and "第 1–50 条，共 121 条；第 1 / 3 页" in to_pull
    assert "A049" in to_pull and "A050" not in to_pull
    assert "预约架上的书（70）" in waiting
    assert "第 51–70 条，共 70 条；第 2 / 2 页" in waiting
    assert "SHELF019" in waiting and "SHELF020" not in waiting
    # Next in one section keeps the page the other shows.
    links = re.findall(r'href="(/hold-shelf\?[^"]+)"', to_pull)
    assert links == ["/hold-shelf?pull_page=2&amp;shelf_page=2&amp;expiring_page=1#to-pull"]
    # A page number that is no number, or past the end: still a page, never an error.
    assert browser.get("/hold-shelf?pull_page=abc").status_code == 200
    past = browser.get("/hold-shelf?pull_page=40&lang=en").get_data(as_text=True)
    assert "101–121 of 121, page 3 of 3" in past and "A120" not in past and "A119" in past
