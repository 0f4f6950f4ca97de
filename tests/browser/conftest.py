"""Fixtures for the end-to-end kiosk tests: a seeded library, the real server, headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context at 1024x768; any uncaught JavaScript error fails the test."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the kiosk page: {errors}"
