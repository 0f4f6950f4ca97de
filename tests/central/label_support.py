"""A central library for the label tests: the demo library, then a catalogue with made-up barcodes."""

from __future__ import annotations

from pathlib import Path

from kiosk.importing.catalog import import_catalog
from kiosk.services.demo import seed_demo_library
from tests.central.conftest import CentralDB
from tests.conftest import FakeClock, make_settings

# Three books: one with its own barcode, one ISBN book without (G… barcodes made up for its
# two copies), one without ISBN or barcode (GEN…).
CATALOG = (
    "ISBN,题名,责任者,索书号,条码,复本数\n"
    "9787020002207,红楼梦,曹雪芹,I242.4/C29,A100001,\n"
    "9787536692930,三体,刘慈欣,I247.55/L71,,2\n"
    ",乡土旧书,佚名,K29/X1,,1\n"
)


def seed_label_library(central_db: CentralDB, clock: FakeClock, tmp_path: Path) -> CentralDB:
    """The demo library seeded on 25 Nov; the catalogue above imported two days later."""
    with central_db.factory.begin() as session:
        seed_demo_library(session, clock())
    clock.advance(days=2)
    settings = make_settings(tmp_path)
    result = import_catalog(
        settings, CATALOG.encode(), "books.csv", session_factory=central_db.factory
    )
    assert result.failure is None
    return central_db
