"""Schemathesis over the OpenAPI descriptions in docs/, in-process: no 5xx, and a 4xx writes nothing.

Every operation in docs/openapi-kiosk.yaml and docs/openapi-central.yaml is called with cases
that fit its schema (positive) and cases that don't (negative), against the real Flask app on a
real database. An operation marked `x-fuzz: false` is skipped (it must say why and where it is
tested instead). Bounded by MAX_EXAMPLES per operation and mode; see docs/fuzzing.md.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import Engine, MetaData, select

from central.intake import register_kiosk
from kiosk.app import create_app
from tests.central.conftest import MONITOR_TOKEN, CentralDB
from tests.conftest import make_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
KIOSK_SCHEMA = schemathesis.openapi.from_path(DOCS / "openapi-kiosk.yaml")
CENTRAL_SCHEMA = schemathesis.openapi.from_path(DOCS / "openapi-central.yaml")
MAX_EXAMPLES = 25
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Bookkeeping meant to record refusals too: a kiosk's counters and last error, the rejected-push
# exception for the librarian, the pull log. Everything the ledger and the kiosks see is covered.
CENTRAL_REFUSAL_LOG = {"central_kiosks", "central_exceptions", "central_sync_runs"}


def fuzzed(schema: Any) -> list[Any]:
    """(operation label, mode) pairs: negative cases only where there is input to get wrong."""
    pairs = []
    for result in schema.get_all_operations():
        operation = result.ok()
        raw = operation.definition.raw
        if not raw.get("x-fuzz", True):
            continue
        takes_input = "requestBody" in raw or bool(raw.get("parameters"))
        for mode in MODES if takes_input else MODES[:1]:
            pairs.append(pytest.param(operation.label, mode, id=f"{operation.label}-{mode}"))
    return pairs


def run_cases(
    schema: Any,
    label: str,
    mode: GenerationMode,
    app: Any,
    fingerprint: Callable[[], str],
    headers: dict[str, str] | None = None,
) -> None:
    """Call `label` with MAX_EXAMPLES generated cases; fail on a 5xx or a write behind a 4xx."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        # Schema compilation makes the first draws slow, and the app fixture is shared on
        # purpose: the database carries over from case to case like a day of use.
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
    def check(case: Any) -> None:
        before = fingerprint()
        response = case.call(app=app)
        assert response.status_code < 500, (response.status_code, response.content[:500])
        if 400 <= response.status_code < 500:
            body = response.json()
            assert isinstance(body, dict) and isinstance(body.get("error"), str), body
            assert fingerprint() == before, f"{label} answered {response.status_code} but wrote"

    check()


# --- the kiosk ------------------------------------------------------------------------------------


def kiosk_fingerprint(database: str) -> Callable[[], str]:
    """A digest of every row of every table of the kiosk's SQLite file."""

    def digest() -> str:
        db = sqlite3.connect(database)
        try:
            hasher = hashlib.sha256()
            tables = [
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for table in tables:
                hasher.update(table.encode())
                # Sorted here, not by rowid: the search index's FTS5 tables have none.
                for row in sorted(repr(r) for r in db.execute(f'SELECT * FROM "{table}"')):
                    hasher.update(row.encode())
            return hasher.hexdigest()
        finally:
            db.close()

    return digest


@pytest.mark.parametrize(("label", "mode"), fuzzed(KIOSK_SCHEMA))
def test_kiosk_api(label, mode, tmp_path, engine, clock, demo_library):
    app = create_app(make_settings(tmp_path), engine=engine, clock=clock)
    run_cases(KIOSK_SCHEMA, label, mode, app, kiosk_fingerprint(str(engine.url.database)))


# --- the central ----------------------------------------------------------------------------------


def central_fingerprint(engine: Engine) -> Callable[[], str]:
    """A digest of every row of the tables the ledger and the kiosks see."""
    metadata = MetaData()
    metadata.reflect(engine)
    tables = [t for name, t in sorted(metadata.tables.items()) if name not in CENTRAL_REFUSAL_LOG]

    def digest() -> str:
        hasher = hashlib.sha256()
        with engine.connect() as conn:
            for table in tables:
                hasher.update(table.name.encode())
                order = list(table.primary_key.columns) or list(table.columns)
                for row in conn.execute(select(table).order_by(*order)):
                    hasher.update(repr(tuple(row)).encode())
        return hasher.hexdigest()

    return digest


@pytest.mark.parametrize(("label", "mode"), fuzzed(CENTRAL_SCHEMA))
def test_central_api(label, mode, central_db: CentralDB, central_app, library, clock):
    with central_db.factory.begin() as session:
        _, token = register_kiosk(session, "fuzz-kiosk", "fuzz", clock())
    operation = CENTRAL_SCHEMA.find_operation_by_label(label)
    monitored = any("monitorToken" in s for s in operation.definition.raw.get("security", []))
    headers = {"Authorization": f"Bearer {MONITOR_TOKEN if monitored else token}"}
    run_cases(
        CENTRAL_SCHEMA, label, mode, central_app, central_fingerprint(central_db.engine), headers
    )


def described(schema: Any) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def served(app: Any, prefixes: tuple[str, ...]) -> set[tuple[str, str]]:
    """The app's JSON routes, with Flask's <converter:name> written as OpenAPI's {name}."""
    return {
        (method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(prefixes)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_json_route_is_described(tmp_path, engine, clock, central_app):
    """A new JSON route must be added to its OpenAPI description (docs/fuzzing.md says how)."""
    from central.app import API_PATH_PREFIXES as CENTRAL_PREFIXES
    from kiosk.app import API_PATH_PREFIXES as KIOSK_PREFIXES

    kiosk_app = create_app(make_settings(tmp_path), engine=engine, clock=clock)
    assert served(kiosk_app, KIOSK_PREFIXES) - described(KIOSK_SCHEMA) == set()
    assert served(central_app, CENTRAL_PREFIXES) - described(CENTRAL_SCHEMA) == set()
