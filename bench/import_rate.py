"""Benchmark: import-catalog records per second against pymarc's bare parse of the same file."""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pymarc
from sqlalchemy import func, select
from stdnum import isbn

# Runnable as `python bench/import_rate.py` from the repo root: the packages live beside bench/.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from db.engine import make_engine, make_session_factory  # noqa: E402 - needs ROOT on sys.path
from db.migrate import upgrade  # noqa: E402
from db.models import Title  # noqa: E402
from kiosk.config import Settings  # noqa: E402
from kiosk.importing.catalog import cli_import_catalog  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "loc_marc21_sample_200.mrc"
TARGET_RATIO = 0.5


def fresh_isbn10(n: int) -> str:
    """The ISBN-10 of the n-th made-up book (978-1-… with a valid check digit)."""
    body = f"1{n:08d}"
    total = sum((10 - i) * int(d) for i, d in enumerate(body))
    check = (11 - total % 11) % 11
    return body + ("X" if check == 10 else str(check))


def build_file(folder: Path, copies: int) -> tuple[Path, int]:
    """The LoC sample repeated `copies` times, each record with its own ISBN, as a .mrc file.

    ISBN-10s like the originals, so the import does the same ISBN-10 → ISBN-13 work.
    """
    with SAMPLE.open("rb") as fh:
        originals = [r for r in pymarc.MARCReader(fh) if r is not None]
    path = folder / "bench_catalog.mrc"
    n = 0
    with path.open("wb") as out:
        for _ in range(copies):
            for record in originals:
                n += 1
                assert isbn.is_valid(fresh_isbn10(n))
                for f in record.get_fields("020"):
                    record.remove_field(f)
                record.add_ordered_field(
                    pymarc.Field(
                        tag="020",
                        indicators=pymarc.Indicators(" ", " "),
                        subfields=[pymarc.Subfield("a", fresh_isbn10(n))],
                    )
                )
                out.write(record.as_marc())
    return path, n


def bare_parse(path: Path) -> tuple[int, float]:
    """The baseline: iterate pymarc's MARCReader over the file, nothing else."""
    start = time.perf_counter()
    with path.open("rb") as fh:
        count = sum(1 for r in pymarc.MARCReader(fh) if r is not None)
    return count, time.perf_counter() - start


def full_import(path: Path, folder: Path, run: int) -> tuple[int, float]:
    """Import into a fresh SQLite file (WAL, synchronous=FULL); return titles made, seconds."""
    engine = make_engine(folder / f"bench_{run}.sqlite3")
    upgrade(engine)
    factory = make_session_factory(engine)
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    code = cli_import_catalog(
        Settings(), path, session_factory=factory, out=out, err=err, progress=False
    )
    elapsed = time.perf_counter() - start
    with factory() as session:
        titles = session.scalar(select(func.count()).select_from(Title)) or 0
    engine.dispose()
    if code != 0:
        raise SystemExit(f"import failed ({code}): {err.getvalue()}")
    return titles, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=25, help="times the 200 records repeat")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if not SAMPLE.exists():
        print(f"import_rate: sample file {SAMPLE} is missing", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="import_rate_") as tmp:
        folder = Path(tmp)
        path, records = build_file(folder, args.copies)
        print(f"import_rate: {records} MARC21 records, {path.stat().st_size / 1e6:.1f} MB")
        bare_rates, import_rates = [], []
        for run in range(args.runs):
            count, seconds = bare_parse(path)
            bare_rates.append(count / seconds)
            count, seconds = full_import(path, folder, run)
            import_rates.append(count / seconds)
            print(
                f"  run {run + 1}: bare parse {bare_rates[-1]:8.0f} records/s, "
                f"import {import_rates[-1]:8.0f} records/s"
            )
    # Best of the runs: other work on the machine only ever slows a run down, so the fastest
    # run of each is the closest to what the code itself costs.
    bare, imported = max(bare_rates), max(import_rates)
    ratio = imported / bare
    print(
        f"median: bare parse {statistics.median(bare_rates):.0f} records/s, "
        f"import {statistics.median(import_rates):.0f} records/s"
    )
    print(f"best:   bare parse {bare:.0f} records/s, import {imported:.0f} records/s")
    print(f"import / bare parse = {ratio:.2f} (target ≥ {TARGET_RATIO})")
    result = {
        "bench": "import_rate",
        "records": records,
        "bare_parse_records_per_s": round(bare, 1),
        "import_records_per_s": round(imported, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
