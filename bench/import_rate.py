"""Benchmark: import-catalog records/s against pymarc's bare parse, .xlsx rows/s against openpyxl's."""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openpyxl
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


def build_workbook(folder: Path, rows: int) -> Path:
    """A catalogue sheet of `rows` books as a school exports it: ISBNs as text, one copy each."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("馆藏")
    sheet.append(["ISBN", "题名", "作者", "出版社", "出版年", "索书号", "条码"])
    for n in range(1, rows + 1):
        isbn13 = isbn.to_isbn13(fresh_isbn10(n)).replace("-", "")
        sheet.append(
            [
                isbn13,
                f"书名 {n}",
                f"作者 {n % 997}",
                "人民文学出版社",
                1990 + n % 30,
                f"I247/{n}",
                f"X{n:07d}",
            ]
        )
    path = folder / "bench_catalog.xlsx"
    workbook.save(path)
    return path


def bare_xlsx(path: Path) -> tuple[int, float]:
    """The baseline: openpyxl's read-only iteration of the sheet's values, nothing else."""
    start = time.perf_counter()
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True)) - 1
    workbook.close()
    return count, time.perf_counter() - start


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


def ratio_line(name: str, unit: str, bare_rates: list[float], rates: list[float]) -> float:
    """Print medians, spread and the ratio of the best runs; return that ratio."""
    bare, imported = max(bare_rates), max(rates)
    print(
        f"{name} median: bare {statistics.median(bare_rates):.0f} {unit}/s "
        f"(spread {min(bare_rates):.0f}–{bare:.0f}), import {statistics.median(rates):.0f} "
        f"{unit}/s (spread {min(rates):.0f}–{imported:.0f})"
    )
    ratio = imported / bare
    print(f"{name} best: import / bare = {ratio:.2f} (target ≥ {TARGET_RATIO})")
    paired_ratio_line(name, bare_rates, rates)
    return ratio


def paired_ratio_line(name: str, bare_rates: list[float], rates: list[float]) -> float:
    """Print the median and spread of each run's own ratio: a run's import and its bare read
    follow each other, so a busy moment of the machine falls on both, where the best of each
    side may come from different moments."""
    ratios = [imported / bare for bare, imported in zip(bare_rates, rates, strict=True)]
    median = statistics.median(ratios)
    print(
        f"{name} per run: import / bare median {median:.2f} "
        f"(spread {min(ratios):.2f}–{max(ratios):.2f})"
    )
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=25, help="times the 200 records repeat")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--xlsx-rows", type=int, default=20000, help="rows of the .xlsx sheet")
    args = parser.parse_args(argv)
    if not SAMPLE.exists():
        print(f"import_rate: sample file {SAMPLE} is missing", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="import_rate_") as tmp:
        folder = Path(tmp)
        path, records = build_file(folder, args.copies)
        workbook = build_workbook(folder, args.xlsx_rows)
        print(f"import_rate: {records} MARC21 records, {path.stat().st_size / 1e6:.1f} MB")
        print(f"import_rate: {args.xlsx_rows} .xlsx rows, {workbook.stat().st_size / 1e6:.1f} MB")
        bare_rates, import_rates = [], []
        xlsx_bare_rates, xlsx_rates = [], []
        # Interleaved: a slow moment of the machine falls on both sides of a ratio alike.
        for run in range(args.runs):
            count, seconds = bare_parse(path)
            bare_rates.append(count / seconds)
            count, seconds = full_import(path, folder, run)
            import_rates.append(count / seconds)
            count, seconds = bare_xlsx(workbook)
            xlsx_bare_rates.append(count / seconds)
            count, seconds = full_import(workbook, folder, args.runs + run)
            xlsx_rates.append(count / seconds)
            print(
                f"  run {run + 1}: bare parse {bare_rates[-1]:8.0f} records/s, "
                f"import {import_rates[-1]:8.0f} records/s; bare .xlsx {xlsx_bare_rates[-1]:8.0f} "
                f"rows/s, import {xlsx_rates[-1]:8.0f} rows/s"
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
    paired = paired_ratio_line("MARC", bare_rates, import_rates)
    xlsx_ratio = ratio_line(".xlsx", "rows", xlsx_bare_rates, xlsx_rates)
    result = {
        "bench": "import_rate",
        "records": records,
        "bare_parse_records_per_s": round(bare, 1),
        "import_records_per_s": round(imported, 1),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "paired_ratio_median": round(paired, 3),
        "xlsx_rows": args.xlsx_rows,
        "bare_xlsx_rows_per_s": round(max(xlsx_bare_rates), 1),
        "import_xlsx_rows_per_s": round(max(xlsx_rates), 1),
        "xlsx_ratio": round(xlsx_ratio, 3),
        "xlsx_meets_target": xlsx_ratio >= TARGET_RATIO,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
