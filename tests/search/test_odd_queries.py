"""Whatever a child or a librarian types, search answers with a page, never an error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.search.query import search_titles
from tests.search.conftest import SearchDB

# Characters that mean something to SQL, LIKE, FTS5 or tsquery, and text around them.
SYNTAX = "'\"\\%_*:&|!()<>^-+~@#;`[]{}·《》\x00\t\n"
odd_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(SYNTAX), st.sampled_from("家春小王子xwz97 "), st.characters()
    ),
    max_size=24,
)


@pytest.mark.parametrize(
    "query",
    [
        "O'Brien",
        "it's",
        "'; DROP TABLE titles; --",
        "a\\b",
        "家'",
        "'家",
        "x:*",
        "!家 & 春 | ",
        "\\'",
    ],
)
def test_quotes_and_operators_are_searched_as_text(search_db: SearchDB, query: str) -> None:
    with search_db.factory() as session:
        hits = search_titles(session, query, limit=5)
    assert isinstance(hits, list)
    with search_db.factory() as session:
        # The catalog is still there and still found.
        assert search_titles(session, "家", limit=1)[0].title == "家"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=odd_text)
def test_any_text_gives_a_page(search_db: SearchDB, query: str) -> None:
    with search_db.factory() as session:
        hits = search_titles(session, query, limit=5)
    assert len(hits) <= 5
