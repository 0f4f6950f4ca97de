"""The admins' users page: add a user of any role, change a role, disable and enable; the console
always keeps an enabled admin; bad input said on the page; every change audited."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from db.central_models import AuditEntry, ConsoleSession, StaffUser
from tests.central.conftest import CentralDB
from tests.central.console_support import PASSWORD, add_staff, csrf_token, signed_in
from tests.conftest import FakeClock


def user(central_db: CentralDB, username: str) -> StaffUser | None:
    with central_db.factory() as s:
        return s.scalar(select(StaffUser).where(StaffUser.username == username))


def actions(central_db: CentralDB) -> list[tuple[str, str, dict]]:
    with central_db.factory() as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action != "user.sign_in").order_by(AuditEntry.id)
        )
        return [(r.action, r.subject, r.detail) for r in rows]


def test_an_admin_adds_a_helper_changes_the_role_and_disables_them(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    admin = signed_in(central_app, "wang")
    page = admin.get("/users").get_data(as_text=True)
    assert "控制台用户" in page and 'id="user-xiaoming"' in page
    token = csrf_token(admin, "/users")
    form = {"csrf_token": token, "username": "小红", "password": PASSWORD, "role": "helper"}
    assert admin.post("/users", data=form).status_code == 302
    new = user(central_db, "小红")
    assert new is not None and new.role == "helper"
    helper = signed_in(central_app, "小红")
    assert helper.get("/audit").status_code == 403

    assert admin.post(f"/users/{new.id}/role", data={"csrf_token": token, "role": "librarian"})
    assert user(central_db, "小红").role == "librarian"
    # The new role counts from the next request, without signing in again.
    assert helper.get("/imports").status_code == 200

    assert admin.post(f"/users/{new.id}/disable", data={"csrf_token": token}).status_code == 302
    assert user(central_db, "小红").disabled
    with central_db.factory() as s:
        assert s.scalar(select(ConsoleSession).where(ConsoleSession.user_id == new.id)) is None
    assert helper.get("/").status_code == 302  # signed out at once
    assert admin.post(f"/users/{new.id}/enable", data={"csrf_token": token}).status_code == 302
    assert not user(central_db, "小红").disabled

    assert actions(central_db) == [
        ("user.add", "user:小红", {"role": "helper"}),
        ("user.role", "user:小红", {"from": "helper", "to": "librarian"}),
        ("user.disable", "user:小红", {"sessions_ended": 1}),
        ("user.enable", "user:小红", {}),
    ]


def test_bad_input_is_said_and_the_last_admin_stays(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    admin = signed_in(central_app, "wang")
    token = csrf_token(admin, "/users")
    short = {"csrf_token": token, "username": "小红", "password": "short", "role": "helper"}
    response = admin.post("/users", data=short)
    assert response.status_code == 400 and "密码至少需要 8 个字符。" in response.get_data(True)
    nameless = {"csrf_token": token, "username": " ", "password": PASSWORD, "role": "helper"}
    response = admin.post("/users", data=nameless)
    assert response.status_code == 400 and "请输入用户名。" in response.get_data(True)
    bad_role = {"csrf_token": token, "username": "小红", "password": PASSWORD, "role": "boss"}
    assert admin.post("/users", data=bad_role).status_code == 400
    assert user(central_db, "小红") is None

    wang = user(central_db, "wang")
    assert wang is not None
    admin.post(f"/users/{wang.id}/disable", data={"csrf_token": token})
    admin.post(f"/users/{wang.id}/role", data={"csrf_token": token, "role": "helper"})
    again = {"csrf_token": token, "username": "wang", "password": PASSWORD, "role": "librarian"}
    response = admin.post("/users", data=again)
    assert response.status_code == 400
    assert "控制台至少要保留一位管理员。" in response.get_data(True)
    wang = user(central_db, "wang")
    assert wang is not None and wang.role == "admin" and not wang.disabled
    assert actions(central_db) == []
