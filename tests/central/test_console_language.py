"""The console speaks Chinese first, English on request (remembered), with times in the
library's zone; its catalog is the union of every team's .po file."""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from pathlib import Path

from babel.support import Translations
from flask import Flask

from central.i18n import local_date, local_datetime
from kiosk.i18n import compile_merged_catalogs
from tests.central.conftest import CentralDB
from tests.central.console_support import add_staff, signed_in
from tests.conftest import FakeClock

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_chinese_by_default_english_by_choice_and_remembered(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    browser = signed_in(central_app, "xiaoming")
    page = browser.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "退出登录" in page and "学生图管员" in page and "Sign out" not in page
    assert 'href="/?lang=en"' in page

    english = browser.get("/?lang=en")
    assert "console_lang=en" in english.headers["Set-Cookie"]
    page = english.get_data(as_text=True)
    assert '<html lang="en">' in page and "Sign out" in page and "(helper)" in page
    # The choice stays for the next pages, until switched back.
    page = browser.get("/exceptions").get_data(as_text=True)
    assert "Sign out" in page and 'href="/exceptions?lang=zh"' in page
    assert "退出登录" in browser.get("/exceptions?lang=zh").get_data(as_text=True)
    assert "退出登录" in browser.get("/").get_data(as_text=True)
    # Anything else asked for is ignored.
    assert "退出登录" in browser.get("/?lang=fr").get_data(as_text=True)


def test_the_forbidden_page_in_both_languages(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    helper = signed_in(central_app, "xiaoming")
    zh = helper.get("/audit").get_data(as_text=True)
    assert "您的角色（学生图管员）不能查看操作日志。" in zh
    en = helper.get("/audit?lang=en").get_data(as_text=True)
    assert "Your role (helper) may not read the audit log." in en


def test_dates_and_times_in_the_library_zone():
    at = dt.datetime(2026, 12, 9, 6, 5, tzinfo=dt.UTC)
    assert local_datetime(at, SHANGHAI, "zh") == "2026年12月9日 周三 14:05"
    assert local_datetime(at, SHANGHAI, "en") == "Wed 9 Dec 2026 14:05"
    assert local_date(at, SHANGHAI, "zh") == "2026年12月9日"
    assert local_date(at, SHANGHAI, "en") == "9 Dec 2026"
    # Late in the UTC evening it is already tomorrow in Shanghai.
    late = dt.datetime(2026, 12, 9, 20, 30, tzinfo=dt.UTC)
    assert local_date(late, SHANGHAI, "zh") == "2026年12月10日"
    assert local_datetime(late, zoneinfo.ZoneInfo("Europe/Berlin"), "en") == "Wed 9 Dec 2026 21:30"
    assert local_date(dt.date(2027, 1, 2), SHANGHAI, "en") == "2 Jan 2027"


def _po(path: Path, pairs: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
    body += "".join(f'msgid "{k}"\nmsgstr "{v}"\n\n' for k, v in pairs.items())
    path.write_text(body, encoding="utf-8")


def test_the_catalog_is_the_union_of_every_teams_file(tmp_path: Path):
    folder = tmp_path / "zh" / "LC_MESSAGES"
    _po(folder / "console.po", {"Sign out": "退出登录", "Title": "题名"})
    _po(folder / "desk.po", {"Lend": "借出", "Title": "书名"})

    def load() -> Translations:
        return Translations.load(str(tmp_path), ["zh"], "messages")

    assert compile_merged_catalogs(tmp_path, "messages") == [folder / "messages.mo"]
    t = load()
    assert (t.gettext("Sign out"), t.gettext("Lend")) == ("退出登录", "借出")
    # A clash: the first file by name wins (and is logged) ...
    assert t.gettext("Title") == "题名"
    # ... unless another is named to come first.
    os.utime(folder / "desk.po")
    compile_merged_catalogs(tmp_path, "messages", first=("desk.po",))
    assert load().gettext("Title") == "书名"
    os.utime(folder / "console.po")
    compile_merged_catalogs(tmp_path, "messages")
    # Nothing changed: nothing compiled.
    assert compile_merged_catalogs(tmp_path, "messages") == []
    # A new team's file is picked up even when older than the compiled catalog.
    _po(folder / "labels.po", {"Labels": "标签"})
    old = (folder / "messages.mo").stat().st_mtime - 60
    os.utime(folder / "labels.po", (old, old))
    assert compile_merged_catalogs(tmp_path, "messages") == [folder / "messages.mo"]
    assert load().gettext("Labels") == "标签"


def test_the_kiosk_page_tells_its_pulls_in_the_page_s_language(
    central_app: Flask, central_db: CentralDB, clock: FakeClock, library, make_kiosk
):
    """A pull's note on the kiosk page is worded by the page, not stored English."""
    kiosk = make_kiosk("k1")
    assert kiosk.pull().status_code == 200
    add_staff(central_db, clock)
    admin = signed_in(central_app, "wang")
    page = admin.get("/kiosks/k1").get_data(as_text=True)
    assert "change(s) sent" not in page
    sent = re.search(r"发出 (\d+) 条变更", page)
    assert sent and int(sent.group(1)) > 0
    english = admin.get("/kiosks/k1?lang=en").get_data(as_text=True)
    assert f"{sent.group(1)} changes sent" in english
