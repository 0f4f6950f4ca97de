"""Roles mean something: the permission table, and every guarded console route for each role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

import run_kiosk
from central.conflicts import ensure_exception
from central.permissions import ROLE_PERMISSIONS, Permission, Role, allows
from db.central_models import StaffUser, SyncException
from tests.central.conftest import CentralDB
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.conftest import FakeClock

HELPER_MAY = {"search", "desk", "hold_shelf", "holds", "view_records", "monitor"}
ADMIN_ONLY = {"manage_users", "manage_kiosks", "audit"}


def test_the_permission_table():
    every = {p.value for p in Permission}
    assert {p.value for p in ROLE_PERMISSIONS[Role.HELPER]} == HELPER_MAY
    assert {p.value for p in ROLE_PERMISSIONS[Role.LIBRARIAN]} == every - ADMIN_ONLY
    assert {p.value for p in ROLE_PERMISSIONS[Role.ADMIN]} == every
    # Helpers see no parents' contacts, change no record, export and waive nothing.
    for refused in ("view_contacts", "edit_records", "export", "waive", "compensation"):
        assert not allows("helper", refused)
        assert allows("librarian", refused)
    assert not allows("nobody", "search") and not allows(None, "search")
    assert not allows("admin", "no_such_permission")


def _guarded_routes(app: Flask) -> list[tuple[str, str, Permission]]:
    """(method, url, permission) of every route guarded by central.views.guard.requires."""
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        permission = getattr(view, "required_permission", None)
        if permission is None:
            continue
        # Any value serves: the guard answers before the view looks the id up.
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{name}>", "1", url)
        method = "POST" if "POST" in (rule.methods or ()) else "GET"
        routes.append((method, url, permission))
    return routes


def test_every_guarded_route_answers_each_role_by_the_table(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    staff = add_staff(central_db, clock)
    routes = _guarded_routes(central_app)
    guarded = {url for _, url, _ in routes}
    # The console's own actions are all among them.
    assert {
        "/",
        "/exceptions",
        "/exceptions/1/resolve",
        "/exceptions/1/retry",
        "/search",
    } <= guarded
    assert {"/imports", "/imports/confirm", "/audit"} <= guarded
    anonymous = central_app.test_client()
    for role, username in staff.items():
        browser = signed_in(central_app, username)
        token = csrf_token(browser, "/")
        for method, url, permission in routes:
            if method == "POST":
                response = browser.post(url, data={"csrf_token": token})
            else:
                response = browser.get(url)
            allowed = allows(role, permission)
            assert (response.status_code == 403) != allowed, (role, method, url, permission)
            if not allowed:
                page = response.get_data(as_text=True)
                assert "没有权限" in page, page
            # Not signed in: the sign-in page, for everyone.
            if method == "GET":
                assert anonymous.get(url).status_code == 302


def test_a_helper_cannot_resolve_an_exception_and_sees_no_button(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    with central_db.factory.begin() as s:
        exc = ensure_exception(
            s,
            kind="double_checkout",
            dedup_key="double:x",
            subject="loan:x",
            kiosks=["k1", "k2"],
            details={},
            now=clock(),
        )
        s.flush()
        exception_id = exc.id
    helper = signed_in(central_app, "xiaoming")
    page = helper.get("/exceptions").get_data(as_text=True)
    assert f"exception-{exception_id}" in page
    assert f"/exceptions/{exception_id}/resolve" not in page
    token = csrf_token(helper, "/exceptions")
    response = helper.post(f"/exceptions/{exception_id}/resolve", data={"csrf_token": token})
    assert response.status_code == 403
    with central_db.factory() as s:
        assert s.get(SyncException, exception_id).status == "open"
    # The navigation lists only what a helper may open.
    assert "/audit" not in page and "/imports" not in page
    librarian_page = signed_in(central_app, "liu").get("/exceptions").get_data(as_text=True)
    assert f"/exceptions/{exception_id}/resolve" in librarian_page
    assert "/imports" in librarian_page and "/audit" not in librarian_page
    admin_page = signed_in(central_app, "wang").get("/exceptions").get_data(as_text=True)
    assert "/audit" in admin_page


def test_a_guarded_post_without_its_form_token_is_refused(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    admin = signed_in(central_app, "wang")
    response = admin.post("/exceptions/1/resolve", data={})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)


def test_add_user_with_the_helper_role(tmp_path: Path, central_db: CentralDB):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{central_db.url}"\n'
    )
    secret = tmp_path / "pw"
    secret.write_text("long enough password\n")
    base = ["add-user", "xiaoming", "--password-file", str(secret), "--config", str(config)]
    with pytest.raises(SystemExit) as refused:
        run_kiosk.main([*base, "--role", "reader"])
    assert refused.value.code == 2
    assert run_kiosk.main([*base, "--role", "helper"]) == 0
    with central_db.factory() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.username == "xiaoming"))
        assert user is not None and user.role == "helper"
