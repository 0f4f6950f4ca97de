"""Shared fixtures: settings on a temporary SQLite file, a controllable clock, a demo library."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.engine import SessionFactory, make_engine, make_session_factory, open_plain_connection
from db.migrate import upgrade
from kiosk.config import Settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# A real SMTP server (aiosmtpd) for the chase's tests: the `smtp` fixture.
pytest_plugins = ["tests.pgserver", "tests.central.smtp_server"]


class FakeClock:
    """A clock the test moves by hand; starts on a school Wednesday morning (Shanghai time)."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


def make_settings(tmp_path: Path, **sections: dict[str, object]) -> Settings:
    data: dict[str, dict[str, object]] = {"database": {"path": str(tmp_path / "kiosk.sqlite3")}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_settings(data, tmp_path, tmp_path / "config.toml")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.database.path)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> SessionFactory:
    return make_session_factory(engine)


@pytest.fixture
def plain_db(engine: Engine) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to the test database, as the desk's scan path uses."""
    db = open_plain_connection(engine)
    yield db
    db.close()


@pytest.fixture
def demo_library(session_factory: SessionFactory, clock: FakeClock) -> object:
    from kiosk.services.demo import seed_demo_library

    with session_factory.begin() as session:
        return seed_demo_library(session, clock())
