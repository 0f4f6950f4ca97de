"""Fixtures for the end-to-end kiosk tests: a seeded library, the real server, headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, KioskServer, launch_chromium, seed_library

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_library(tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/system-deps.sh browser")
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def start_kiosk(tmp_path: Path, seeded_database: Path) -> Iterator[Callable[..., KioskServer]]:
    """Start `python run_kiosk.py serve` with a fresh copy of the demo library; stopped after."""
    servers: list[KioskServer] = []

    def start(**options: Any) -> KioskServer:
        server = KioskServer(tmp_path / f"kiosk{len(servers)}", seeded_database, **options)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def kiosk(start_kiosk: Callable[..., KioskServer]) -> KioskServer:
    return start_kiosk()


@contextmanager
def _watched_page(chromium: Any, width: int, height: int) -> Iterator[Any]:
    """A fresh browser context at `width`x`height`; any uncaught JavaScript error fails the test."""
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """The kiosk's screen at 1024x768."""
    with _watched_page(chromium, 1024, 768) as page:
        yield page


@pytest.fixture
def console(chromium: Any) -> Iterator[Any]:
    """A console browser at the common school PC's 1366x768."""
    with _watched_page(chromium, 1366, 768) as page:
        yield page
