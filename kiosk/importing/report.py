"""What an import reports: exit codes, the summary of rows taken and rejected, a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError

# tqdm ships no type information (and types-tqdm is not a dependency).
from tqdm import tqdm  # type: ignore[import-untyped]

from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from kiosk.importing.files import UnreadableFile, read_bytes

# How many rejected rows the summary lists one by one before "and N more".
MAX_LISTED = 50


def database_problem(exc: SQLAlchemyError) -> str:
    """The database's own words for a failed write, without the statement's parameters.

    SQLAlchemy's message quotes the bound values, which may be a student's name or card.
    """
    orig = getattr(exc, "orig", None)
    return f"the database refused the import ({orig if orig is not None else type(exc).__name__})"


@dataclass
class Summary:
    """Counts and messages of one import, printed at the end."""

    source: str
    unit: str
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def reject(self, where: str, reason: str) -> None:
        self.rejected += 1
        self.problems.append(f"{self.source} {where}: {reason}")

    def problem(self, where: str, reason: str) -> None:
        """A problem that skipped part of a row or record, not all of it."""
        self.problems.append(f"{self.source} {where}: {reason}")

    def warn(self, where: str, reason: str) -> None:
        self.warnings.append(f"{self.source} {where}: {reason}")

    @property
    def importable(self) -> int:
        """How many rows, records or title groups were (or would be) taken."""
        return self.added + self.updated + self.unchanged

    def outcomes(self) -> dict[str, int]:
        """The counts by outcome, in the order every import's table shows them."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }

    def count(self, outcome: str) -> None:
        if outcome == "added":
            self.added += 1
        elif outcome == "updated":
            self.updated += 1
        elif outcome == "unchanged":
            self.unchanged += 1

    def listing(self) -> list[str]:
        lines: list[str] = []
        for heading, messages in (("Rejected:", self.problems), ("Warnings:", self.warnings)):
            if not messages:
                continue
            lines.append(heading)
            lines += [f"  {m}" for m in messages[:MAX_LISTED]]
            if len(messages) > MAX_LISTED:
                lines.append(f"  … and {len(messages) - MAX_LISTED} more")
        return lines


def outcome_table(columns: dict[str, dict[str, int]]) -> list[str]:
    """The table that ends every import and every dry run: one column per kind of row.

    `columns` maps a column heading ("students", "titles", "copies") to its counts by
    outcome ("added", "updated", …); a count a column lacks shows as a dash.
    """
    outcomes: list[str] = []
    for counts in columns.values():
        outcomes += [o for o in counts if o not in outcomes]
    width = max(len(o) for o in outcomes)
    widths = {heading: max(len(heading), 6) for heading in columns}
    lines = [" " * width + "".join(f"  {h:>{widths[h]}}" for h in columns)]
    for outcome in outcomes:
        cells = "".join(f"  {columns[h].get(outcome, '-'):>{widths[h]}}" for h in columns)
        lines.append(f"{outcome:<{width}}{cells}")
    return lines


class Progress(Protocol):
    """The part of a tqdm bar the imports use."""

    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


def progress_bar(total: int, err: IO[str], enabled: bool, unit: str) -> Progress:
    """A tqdm bar on `err`, shown only to a person watching a terminal."""
    show = enabled and err.isatty()
    bar: Progress = tqdm(total=total, file=err, disable=not show, unit=unit, leave=False)
    return bar


@dataclass
class FileImport:
    """What an import of a file did, or (dry run) would do; each import adds its own counts."""

    summary: Summary
    # Set when the database refused the write.
    failure: str | None = field(default=None, kw_only=True)

    @property
    def importable(self) -> int:
        """How many rows, records or title groups were (or would be) taken."""
        return self.summary.importable


class ImportOutcome(Protocol):
    """What an import of a file did, or (dry run) would do: `import_roster`, `import_catalog`."""

    summary: Summary
    # Set when the database refused the write.
    failure: str | None

    @property
    def importable(self) -> int: ...

    def table(self) -> list[str]: ...


Outcome = TypeVar("Outcome", bound=ImportOutcome)


def import_file(path: Path, load: Callable[[bytes, str], Outcome], err: IO[str]) -> Outcome | int:
    """Run `load` on the file at `path`; or say why not and return the exit code (2 or 1)."""
    try:
        result = load(read_bytes(path), path.name)
    except UnreadableFile as exc:
        print(f"{exc} — nothing imported.", file=err)
        return EXIT_BAD_INPUT
    if result.failure is not None:
        print(result.failure, file=err)
        return EXIT_FAILED
    return result


def dry_run_banner(dry_run: bool, out: IO[str]) -> str:
    """Say that a dry run writes nothing; return the "would be " its counts are worded with."""
    if not dry_run:
        return ""
    print("Dry run: nothing was written. This is what the import would do.", file=out)
    return "would be "


def print_outcome(result: ImportOutcome, out: IO[str]) -> None:
    """The outcome table, then the rows or records that were left out and why."""
    for line in result.table():
        print(line, file=out)
    for line in result.summary.listing():
        print(line, file=out)


def exit_code(result: ImportOutcome, dry_run: bool) -> int:
    """0, or 2 for a dry run of a file of which nothing could be imported."""
    return EXIT_BAD_INPUT if dry_run and result.importable == 0 else EXIT_OK
