"""Real storage faults for tests: a tiny tmpfs that can be filled to the last byte."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

TMPFS_SIZE = "4m"


@contextmanager
def tiny_tmpfs(directory: Path, size: str = TMPFS_SIZE) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `directory`; skips the test where mounting isn't allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)], check=False).returncode != 0:
            # Something still holds a file there; detach it so the next test starts clean.
            subprocess.run(["umount", "-l", str(directory)], check=True)


class FullDisk:
    """Fills the file system holding a SQLite database in WAL mode, and frees it again.

    The WAL is checkpointed and truncated first: a WAL that once grew keeps its size and is
    rewritten from the start, so without this the next commits would still find room.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.filler = db_path.parent / "filler"

    def fill(self) -> None:
        with closing(sqlite3.connect(self.db_path, isolation_level=None)) as db:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "a reader kept the WAL from being truncated"
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for chunk_size in (1 << 20, 4096, 1):
                chunk = b"\0" * chunk_size
                try:
                    while True:
                        os.write(fd, chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()


@contextmanager
def read_only_view(directory: Path, view: Path) -> Iterator[Path]:
    """`directory` bind-mounted read-only at `view`; skips the test where mounting isn't allowed.

    Root writes through a 0444 file mode, so a read-only mount is how a test run as root gets a
    database file it really cannot write. Connections must be opened through `view`.
    """
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    view.mkdir(parents=True)
    for args in (["--bind", str(directory), str(view)], ["-o", "remount,ro,bind", str(view)]):
        mounted = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if mounted.returncode != 0:
            subprocess.run(["umount", str(view)], capture_output=True, check=False)
            pytest.skip(f"cannot make a read-only bind mount here: {mounted.stderr.strip()}")
    try:
        yield view
    finally:
        if subprocess.run(["umount", str(view)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(view)], check=True)
