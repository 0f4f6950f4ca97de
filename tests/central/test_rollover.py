"""School-year rollover: classes up a grade, the top grade leaves, leavers' books listed first,
once per school year, pulled by kiosks; the `rollover [--preview]` command."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

import run_kiosk
from central.rollover import apply_rollover, plan_rollover, rollover_school_year
from db.models import Patron
from kiosk.circulation.overdue import ChasePolicy
from kiosk.circulation.schoolyear import ClassKey, SchoolCalendar
from tests.central.conftest import CentralDB

CALENDAR = SchoolCalendar()
POLICY = ChasePolicy()
JULY = dt.datetime(2027, 7, 12, 2, 0, tzinfo=dt.UTC)

# Added to the demo roster: (student number, card, name, class, grade).
EXTRA = [
    ("S2026101", "20261101", "周六一", "六年级1班", "六年级"),
    ("S2026102", "20261102", "吴六二", "六年级1班", "六年级"),
    # This year's 4-2, written the way the rollover writes classes.
    ("S2026103", "20261103", "郑四二", "四年级2班", "4"),
    ("S2026104", "20261104", "孙兴趣", "兴趣小组", ""),
]


@pytest.fixture
def roster(central_db: CentralDB, library) -> None:
    with central_db.factory.begin() as s:
        for number, card, name, class_name, grade in EXTRA:
            s.add(
                Patron(
                    student_number=number,
                    card_barcode=card,
                    name=name,
                    class_name=class_name,
                    grade=grade,
                )
            )


def classes(central_db: CentralDB) -> dict[str, tuple[str, str, str]]:
    with central_db.factory() as s:
        return {
            p.student_number: (p.class_name, p.grade, p.status) for p in s.scalars(select(Patron))
        }


@pytest.mark.parametrize(
    ("today", "year"),
    [
        (dt.date(2027, 7, 12), 2027),
        (dt.date(2027, 9, 3), 2027),
        (dt.date(2027, 1, 10), 2026),
        (dt.date(2026, 12, 1), 2026),
    ],
)
def test_the_school_year_a_rollover_prepares(today, year):
    assert rollover_school_year(CALENDAR, today) == year


def test_rollover_moves_classes_marks_leavers_once(central_db, roster, make_kiosk, clock):
    kiosk = make_kiosk("k1")
    kiosk.checkout("SX00001", "S2026101", JULY - dt.timedelta(days=20))
    kiosk.push()
    before = classes(central_db)
    with central_db.factory() as s:
        plan = plan_rollover(s, CALENDAR, POLICY, JULY)
    assert plan.school_year == 2027 and plan.top_grade == 6
    assert [(m.class_name, m.to_class_name, m.students) for m in plan.moves] == [
        ("三年级二班", "四年级2班", 2),
        ("四年级一班", "五年级1班", 2),
        ("四年级2班", "五年级2班", 1),
        ("Grade 5 Class 3", "六年级3班", 2),
        ("五年级三班", "六年级3班", 3),
    ]
    assert [(m.class_name, m.students) for m in plan.leaving] == [("六年级1班", 2)]
    assert plan.unknown == [("兴趣小组", 1)]
    assert [(x.class_key, x.student_number, x.item_barcode) for x in plan.leavers_loans] == [
        (ClassKey(6, 1), "S2026101", "SX00001")
    ]
    assert classes(central_db) == before  # the preview changes nothing

    version_before = kiosk.pull().get_json()["next_since"]
    with central_db.factory.begin() as s:
        result = apply_rollover(s, plan, JULY, by_username="liu")
    assert (result.applied, result.students_moved, result.students_left) == (True, 10, 2)
    after = classes(central_db)
    assert after["S2026001"] == ("四年级2班", "4", "active")  # 三年级二班 moved once
    assert after["S2026103"] == ("五年级2班", "5", "active")  # this year's 4-2, once too
    assert after["S2026101"] == ("六年级1班", "六年级", "left")
    assert after["S2026104"] == ("兴趣小组", "", "active")
    assert after["S2026009"][2] == "blocked"  # a blocked student moves and stays blocked

    # Kiosks learn it on their next pull.
    changes = kiosk.pull(since=version_before).get_json()["changes"]
    pulled = {c["key"]: c for c in changes if c["entity"] == "patron"}
    assert pulled["S2026101"]["data"]["status"] == "left"
    assert pulled["S2026001"]["data"]["class_name"] == "四年级2班"

    # Once per school year: the same plan again changes nothing.
    with central_db.factory.begin() as s:
        again = apply_rollover(s, plan_rollover(s, CALENDAR, POLICY, JULY), JULY, by_username="x")
    assert not again.applied and classes(central_db) == after


def test_rollover_command(tmp_path, central_db, roster, capsys):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{central_db.url}"\n'
    )
    before = classes(central_db)
    assert run_kiosk.main(["rollover", "--preview", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "三年级二班 → 四年级2班: 2 student(s)" in out
    assert "六年级1班: 2 student(s) leave" in out and "Preview only" in out
    assert classes(central_db) == before
    assert run_kiosk.main(["rollover", "--top-grade", "13", "--config", str(config)]) == 2
    assert run_kiosk.main(["rollover", "--config", str(config)]) == 0
    assert "Rollover done: 10 student(s) moved up a grade, 2 marked as left" in (
        capsys.readouterr().out
    )
    assert run_kiosk.main(["rollover", "--config", str(config)]) == 2
    assert "nothing changed" in capsys.readouterr().err


def test_rollover_in_the_console(central_app, central_db, roster, make_kiosk, clock):
    from db.central_models import AuditEntry
    from tests.central.console_support import add_staff, csrf_token, signed_in

    add_staff(central_db, clock)
    kiosk = make_kiosk("k1")
    kiosk.checkout("SX00001", "S2026101", clock() - dt.timedelta(days=20))
    kiosk.push()
    assert signed_in(central_app, "xiaoming").get("/rollover").status_code == 403
    client = signed_in(central_app, "liu")
    page = client.get("/rollover").get_data(as_text=True)
    assert "学年升级" in page and "三年级二班" in page and "→ 四年级2班" in page
    assert "毕业生未还图书" in page and "周六一" in page and "《草房子》" in page
    assert "兴趣小组" in page  # not recognised, not moved
    english = client.get("/rollover?lang=en").get_data(as_text=True)
    assert "School-year rollover" in english and "Grade 6 Class 1" in english
    client.get("/rollover?lang=zh")  # the choice is remembered: back to Chinese
    before = classes(central_db)
    token = csrf_token(client, "/rollover")
    client.post("/rollover", data={"csrf_token": token, "top_grade": "6"})  # not confirmed
    assert classes(central_db) == before
    reply = client.post("/rollover", data={"csrf_token": token, "top_grade": "6", "confirm": "yes"})
    assert reply.status_code == 302
    assert classes(central_db)["S2026101"][2] == "left"
    assert "升级完成：10 名学生升入新年级，2 名学生标记为离校" in client.get("/rollover").get_data(
        as_text=True
    )
    client.post("/rollover", data={"csrf_token": token, "top_grade": "6", "confirm": "yes"})
    with central_db.factory() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry))]
    assert actions.count("rollover.apply") == 1
