"""Fixtures for the fuzzing layer: the central's databases on SQLite and PostgreSQL, the kiosk's file."""

from __future__ import annotations

# The central's fixtures (a migrated SQLite file or a fresh PostgreSQL database per test, its
# settings and app, the demo library) are the ones its own tests use.
from tests.central.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    central_app,
    central_db,
    central_settings,
    library,
)
