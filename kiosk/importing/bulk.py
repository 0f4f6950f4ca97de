"""Running a bulk import: Python's cycle collector paused while the rows pile up."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the body; restore it as it was, even on error.

    An import keeps what it has read until the end (a workbook's rows, grouped before any
    is written) while it makes millions of short-lived objects. Every time enough of them
    survive, the collector walks all the objects of the process (the rows so far, SQLAlchemy,
    pypinyin's dictionaries): a quarter of an .xlsx import's time, a seventh of a MARC one's.
    Reference counting still frees what the import drops; reference cycles wait for the
    collector's next run after the import. Process-wide, like every gc setting: a request
    served meanwhile by another thread waits for its cycles to be collected just the same.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
