"""With `[server] allow_remote = true` the kiosk page still works: it gets the secret on loopback."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kiosk.remote import SECRET_HEADER
from tests.browser import KioskServer
from tests.browser.test_kiosk_ui import keypad_type

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=5000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

SECRET = "browser-test-secret-0123456789abcdef"


class RemoteKioskServer(KioskServer):
    """The test kiosk with the API behind its secret; the test's own calls send the header."""

    def __init__(self, directory: Path, seeded_database: Path) -> None:
        super().__init__(directory, seeded_database)
        (directory / "kiosk_secret").write_text(SECRET + "\n", encoding="utf-8")
        config = self.config.read_text(encoding="utf-8")
        self.config.write_text(
            config.replace(
                "[server]\n", '[server]\nallow_remote = true\nsecret_file = "kiosk_secret"\n'
            ),
            encoding="utf-8",
        )

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url.rstrip("/") + path, headers={SECRET_HEADER: SECRET}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)


def test_the_kiosk_page_works_behind_the_secret(
    tmp_path: Path, seeded_database: Path, page: Any
) -> None:
    kiosk = RemoteKioskServer(tmp_path / "kiosk", seeded_database)
    try:
        kiosk.start()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(kiosk.url + "api/session", timeout=5)
        assert refused.value.code == 401
        page.goto(kiosk.url + "?lang=en")
        body = page.locator("body")
        expect(body).to_have_attribute("data-ready", "1")
        expect(body).to_have_attribute("data-link", "up")  # the event stream got in
        kiosk.scanner.scan("20260001")  # a serial scan, drawn from the event stream
        # Whatever the greeting's wording ([kiosk] greeting), someone is greeted.
        expect(page.locator("#greeting")).to_have_text(re.compile(r"^Hello, \S"))
        keypad_type(page, "SX00008")  # the page's own POST, carrying the cookie
        expect(page.locator("#scan-list > li").first).to_contain_text("西游记")
        loans = kiosk.get("/api/session")["patron"]["loans"]
        assert [loan["item_barcode"] for loan in loans] == ["SX00008"]
    finally:
        kiosk.close()
