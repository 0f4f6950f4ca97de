"""Holds from the public catalogue: right and wrong credentials, CSRF, rate limits, and a page
that never shows another student's data. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.app import create_central_app
from db.models import Hold, Item, ItemStatus, Patron, Title
from kiosk.services.demo import BLOCKED_CARD, isbn13_for
from kiosk.services.opac_pin import hash_pin
from tests.central.conftest import CentralDB, add_kiosk
from tests.conftest import FakeClock, make_settings

PIN = "482913"
TOTTO = isbn13_for(5)  # 窗边的小豆豆, one copy (SX00010)


def opac_client(tmp_path: Path, central_db: CentralDB, clock: FakeClock, **opac: Any) -> Any:
    settings = make_settings(
        tmp_path,
        central={"database_url": central_db.url},
        opac={"holds": True, **opac},
    )
    return create_central_app(settings, engine=central_db.engine, clock=clock).test_client()


@pytest.fixture
def title_id(central_db: CentralDB, library) -> int:
    """窗边的小豆豆 with its copy out; 小明 has a PIN and a birth date."""
    with central_db.factory.begin() as s:
        s.scalars(select(Item).where(Item.barcode == "SX00010")).one().status = ItemStatus.ON_LOAN
        patron = s.scalars(select(Patron).where(Patron.student_number == "S2026001")).one()
        patron.opac_pin_hash = hash_pin(PIN)
        patron.birth_date = dt.date(2016, 9, 1)
        return s.scalars(select(Title.id).where(Title.isbn13 == TOTTO)).one()


def csrf_token(client: Any, title_id: int) -> str:
    page = client.get(f"/opac/titles/{title_id}")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert found, "the title page has no hold form"
    return found.group(1)


def reserve(client: Any, title_id: int, who: str, secret: str, addr: str = "10.0.0.1") -> Any:
    data = {"csrf_token": csrf_token(client, title_id), "who": who, "secret": secret}
    return client.post(
        f"/opac/titles/{title_id}/hold", data=data, environ_base={"REMOTE_ADDR": addr}
    )


def holds_of(central_db: CentralDB, number: str) -> list[str]:
    with central_db.factory() as s:
        return list(
            s.scalars(
                select(Hold.status)
                .join(Patron, Patron.id == Hold.patron_id)
                .where(Patron.student_number == number)
            )
        )


def test_right_card_and_pin_place_a_hold_the_kiosks_will_pull(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock)
    response = reserve(client, title_id, "20260001", PIN)
    assert response.status_code == 200
    assert "已预约" in response.text and "Reserved." in response.text
    assert "窗边的小豆豆" in response.text
    assert "张小明" not in response.text and "小明" not in response.text
    assert holds_of(central_db, "S2026001") == ["waiting"]
    # A kiosk's next pull carries the hold.
    with central_db.factory() as s:
        hold_uuid = s.scalars(
            select(Hold.uuid).join(Patron).where(Patron.student_number == "S2026001")
        ).one()
    token = add_kiosk(central_db, "K-LIB-1", clock)
    pulled = client.get("/sync/v1/pull?since=0", headers={"Authorization": f"Bearer {token}"})
    assert pulled.status_code == 200
    assert hold_uuid in pulled.text
    # Again: the rules answer, in words.
    again = reserve(client, title_id, "20260001", PIN)
    assert "你已经预约过这本书了" in again.text


def test_wrong_pin_and_unknown_card_say_the_same_and_nothing_else(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock)
    wrong_pin = reserve(client, title_id, "20260001", "000000")
    unknown = reserve(client, title_id, "29999999", PIN)
    other_student = reserve(client, title_id, "20260002", PIN)  # a real card, not her PIN
    for response in (wrong_pin, unknown, other_student):
        assert response.status_code == 403
        assert (
            "卡号或密码不对。" in response.text and "Card or PIN not recognised." in response.text
        )
        for private in ("张小明", "小明", "欧阳", "娜娜", "李华", "S2026001", "三年级"):
            assert private not in response.text
    assert wrong_pin.text == other_student.text
    assert holds_of(central_db, "S2026001") == [] and holds_of(central_db, "S2026002") == []


def test_the_hold_rules_answer_in_words_and_record_nothing(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock)
    with central_db.factory.begin() as s:
        on_shelf = s.scalars(select(Title.id).where(Title.isbn13 == isbn13_for(1))).one()
        blocked = s.scalars(select(Patron).where(Patron.card_barcode == BLOCKED_CARD)).one()
        blocked.opac_pin_hash = hash_pin(PIN)
    # 草房子 has copies on the shelf: go and take one; the page says where.
    go_take = reserve(client, on_shelf, "20260001", PIN)
    assert go_take.status_code == 200
    assert "这本书现在就在书架上" in go_take.text and "I287.45/C12" in go_take.text
    # A blocked card: see the librarian, whatever the book.
    see_librarian = reserve(client, title_id, BLOCKED_CARD, PIN)
    assert "请先找图书管理员" in see_librarian.text
    assert holds_of(central_db, "S2026001") == [] and holds_of(central_db, "S2026009") == []


def test_a_form_without_its_csrf_token_is_refused(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock)
    client.get(f"/opac/titles/{title_id}")  # a session, but no token in the form
    response = client.post(f"/opac/titles/{title_id}/hold", data={"who": "20260001", "secret": PIN})
    assert response.status_code == 400
    assert "请返回，刷新后再试一次" in response.text
    assert holds_of(central_db, "S2026001") == []


def test_guessing_a_pin_is_throttled_per_card_and_per_address(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock)
    config = client.application.config
    config["OPAC_HOLD_FAILURES_PER_CARD"] = "4 per day"
    config["OPAC_HOLD_FAILURES_PER_ADDRESS"] = "6 per hour"
    # Four wrong PINs for one card from four addresses: the fifth try is refused, even the
    # right PIN, from a fresh address.
    for n in range(4):
        assert (
            reserve(client, title_id, "20260001", f"00000{n}", addr=f"10.0.1.{n}").status_code
            == 403
        )
    throttled = reserve(client, title_id, "20260001", PIN, addr="10.0.1.9")
    assert throttled.status_code == 429 and "尝试的次数太多了" in throttled.text
    assert "Too many tries" in throttled.text
    assert holds_of(central_db, "S2026001") == []
    # One address trying many cards: five wrong tries at one card, the sixth refused…
    config["OPAC_HOLD_FAILURES_PER_CARD"] = "20 per day"
    statuses = [
        reserve(client, title_id, "20260002", f"11111{n}", addr="10.0.2.1").status_code
        for n in range(6)
    ]
    assert statuses == [403] * 5 + [429]
    # …and that address's failures fill up across cards.
    assert reserve(client, title_id, "20260003", "123456", addr="10.0.2.1").status_code == 403
    assert reserve(client, title_id, "20260004", "123456", addr="10.0.2.1").status_code == 429
    # A student on another phone whose card nobody guessed at still reserves.
    with central_db.factory.begin() as s:
        patron = s.scalars(select(Patron).where(Patron.student_number == "S2026005")).one()
        patron.opac_pin_hash = hash_pin("777777")
    assert reserve(client, title_id, "20260005", "777777", addr="10.0.3.1").status_code == 200


def test_successes_are_not_counted(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock)
    client.application.config["OPAC_HOLD_FAILURES_PER_ADDRESS_AND_CARD"] = "2 per hour"
    # The right PIN again and again (the rules answer "already reserved") is never throttled.
    for _ in range(4):
        assert reserve(client, title_id, "20260001", PIN).status_code == 200


def test_student_number_and_birth_date(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock, identify_by="birth_date")
    page = client.get(f"/opac/titles/{title_id}").text
    assert "出生日期" in page and 'type="date"' in page and "密码" not in page
    wrong = reserve(client, title_id, "S2026001", "2016-09-02")
    assert wrong.status_code == 403 and "学号或出生日期不对。" in wrong.text
    right = reserve(client, title_id, "S2026001", "2016-09-01")
    assert right.status_code == 200 and "已预约" in right.text
    assert holds_of(central_db, "S2026001") == ["waiting"]


def test_no_form_and_no_route_when_holds_are_off(
    tmp_path: Path, central_db: CentralDB, clock: FakeClock, title_id: int
):
    client = opac_client(tmp_path, central_db, clock, holds=False)
    assert "csrf_token" not in client.get(f"/opac/titles/{title_id}").text
    response = client.post(f"/opac/titles/{title_id}/hold", data={"who": "20260001", "secret": PIN})
    assert response.status_code == 404
