"""Search at the central: GET /api/v1/search, the public OPAC pages and the console's search box."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from kiosk.search.query import search_students
from tests.central.conftest import MONITOR_TOKEN, CentralDB
from tests.central.test_console import _login, librarian  # noqa: F401  (fixture)

AUTH = {"Authorization": f"Bearer {MONITOR_TOKEN}"}


def test_api_search_needs_the_monitor_token(client: FlaskClient, library: Any) -> None:
    assert client.get("/api/v1/search?q=xwz").status_code == 401
    reply = client.get("/api/v1/search?q=xwz", headers=AUTH)
    assert reply.status_code == 200
    first = reply.get_json()["results"][0]
    assert set(first) == {
        "title_id",
        "title",
        "author",
        "isbn13",
        "call_number",
        "location",
        "copies",
        "available",
    }
    assert (first["title"], first["copies"], first["available"]) == ("小王子", 2, 2)


def test_api_search_refuses_bad_arguments(client: FlaskClient, library: Any) -> None:
    reply = client.get("/api/v1/search?q=a&limit=0", headers=AUTH)
    assert reply.status_code == 400
    assert "limit" in reply.get_json()["message"]
    assert client.get("/api/v1/search?q=" + "书" * 201, headers=AUTH).status_code == 400
    assert client.get("/api/v1/search?q=", headers=AUTH).get_json() == {"results": []}


def test_opac_is_public_and_links_each_title(client: FlaskClient, library: Any) -> None:
    page = client.get("/opac?q=曹文轩").get_data(as_text=True)
    assert "草房子" in page and "青铜葵花" in page
    assert "在架 3 本 / 共 3 本" in page
    links = re.findall(r'href="(/opac/titles/\d+)\?q=', page)
    assert len(links) == 2
    detail = client.get(links[0])
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert "草房子" in text and "江苏少年儿童出版社" in text and "I287.45/C12" in text
    assert "Shelf I" in text


def test_opac_says_when_nothing_is_found(client: FlaskClient, library: Any) -> None:
    page = client.get("/opac?q=量子力学").get_data(as_text=True)
    assert "没有找到" in page and "Nothing found" in page
    assert client.get("/opac/titles/999999").status_code == 404


def test_console_search_lists_titles_and_students(
    client: FlaskClient,
    library: Any,
    librarian: str,  # noqa: F811
) -> None:
    assert client.get("/search?q=3-2").status_code == 302
    assert _login(client) == 302
    page = client.get("/search?q=3-2").get_data(as_text=True)
    assert "张小明" in page and "李华" in page and "王芳" not in page
    page = client.get("/search?q=xiaowangzi").get_data(as_text=True)
    assert "小王子" in page and "/opac/titles/" in page


def test_students_by_name_card_number_and_class(central_db: CentralDB, library: Any) -> None:
    def names(query: str) -> list[str]:
        with central_db.factory() as session:
            return [s.name for s in search_students(session, query)]

    assert names("华") == ["李华"]
    assert names("欧阳") == ["欧阳娜娜"]
    assert names("20260003") == ["王芳"]
    assert names("S2026004") == ["欧阳娜娜"]
    assert sorted(names("三年级2班")) == sorted(["张小明", "李华"])
    assert sorted(names("5-3")) == sorted(["陈思远", "刘洋", "赵磊", "Emily Chen", "Tom Li"])
    assert names("emily") == ["Emily Chen"]
    assert names("s2026004") == ["欧阳娜娜"]
    assert len(names("S20260")) == 9 and names("周") == []
