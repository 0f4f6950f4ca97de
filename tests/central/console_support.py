"""Signing console users of each role in through the real sign-in form (test helpers)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from central.auth import add_user
from tests.central.conftest import CentralDB
from tests.conftest import FakeClock

PASSWORD = "correct horse battery"
# One console user per role: (username, role).
STAFF = {"admin": "wang", "librarian": "liu", "helper": "xiaoming"}


def add_staff(central_db: CentralDB, clock: FakeClock) -> dict[str, str]:
    """One user of each role; returns role → username."""
    with central_db.factory.begin() as s:
        for role, username in STAFF.items():
            add_user(s, username, PASSWORD, role, clock())
    return dict(STAFF)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def signed_in(app: Flask, username: str, address: str = "10.1.2.3") -> FlaskClient:
    """A browser at `address` signed in as `username`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    data = {"username": username, "password": PASSWORD, "csrf_token": csrf_token(client)}
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
