"""The collector pause of a bulk import: paused inside, restored after, whatever happens."""

from __future__ import annotations

import gc

import pytest

from kiosk.importing.bulk import collector_paused


@pytest.fixture
def restore_gc():
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_and_enabled_again_after(restore_gc):
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_enabled_again_when_the_import_raises(restore_gc):
    gc.enable()

    @collector_paused()
    def failing_import() -> None:
        assert not gc.isenabled()
        raise ValueError("the database refused")

    with pytest.raises(ValueError):
        failing_import()
    assert gc.isenabled()


def test_a_collector_someone_else_disabled_stays_disabled(restore_gc):
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
