"""Pushed event batches: well-formed ones are stored once, damaged ones are refused whole."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from central.intake import register_kiosk
from db.central_models import CentralEvent
from tests.central.conftest import CentralDB
from tests.fuzz.strategies import push_bodies, renamed, wrong_values

KIOSK = "fuzz-kiosk"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    # One central through the whole run; each push has an epoch of its own.
    suppress_health_check=list(HealthCheck),
)


def stored_events(central_db: CentralDB) -> int:
    with central_db.factory() as session:
        return session.scalar(select(func.count(CentralEvent.id))) or 0


def push(client: Any, token: str, body: Any) -> Any:
    return client.post("/sync/v1/push", json=body, headers={"Authorization": f"Bearer {token}"})


def test_well_formed_pushes_are_stored_once(central_db: CentralDB, central_app, library, clock):
    with central_db.factory.begin() as session:
        _, token = register_kiosk(session, KIOSK, KIOSK, clock())
    client = central_app.test_client()

    @FUZZ
    @given(body=push_bodies(KIOSK))
    def check(body: dict[str, Any]) -> None:
        body = renamed(body)
        before = stored_events(central_db)
        first = push(client, token, body)
        assert first.status_code == 200, first.get_json()
        sent = len(body["events"])
        assert first.get_json()["acked_through"] == sent
        assert stored_events(central_db) == before + sent
        again = push(client, token, body)  # a lost reply: the kiosk sends the same batch
        assert again.status_code == 200 and again.get_json()["acked_through"] == sent
        assert stored_events(central_db) == before + sent

    check()


@st.composite
def damaged_pushes(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed push with one field of one event (or of the envelope) spoiled or removed."""
    body = copy.deepcopy(draw(push_bodies(KIOSK, max_events=5).filter(lambda b: b["events"])))
    target = draw(st.one_of(st.just(body), st.sampled_from(body["events"])))
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(wrong_values)
    return body


def test_damaged_pushes_are_refused_whole_or_harmless(
    central_db: CentralDB, central_app, library, clock
):
    with central_db.factory.begin() as session:
        _, token = register_kiosk(session, KIOSK, KIOSK, clock())
    client = central_app.test_client()

    @FUZZ
    @given(body=damaged_pushes())
    def check(body: dict[str, Any]) -> None:
        body = renamed(body)
        before = stored_events(central_db)
        response = push(client, token, body)
        # Some damage is harmless (an optional field dropped); none may break the server.
        assert response.status_code in (200, 400, 401, 409), response.get_json()
        assert isinstance(response.get_json(), dict)
        if response.status_code != 200:
            assert "error" in response.get_json()
            assert stored_events(central_db) == before, "a refused push stored events"

    check()
