"""Private files on disk: secrets and SQLite databases, created readable by their owner only."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_MODE = 0o600
# SQLite keeps a database's recent commits in "-wal" and its lock table in "-shm".
SQLITE_SIBLING_SUFFIXES = ("-wal", "-shm")


class FileProblem(Exception):
    """A file the program needs is unusable; the message is one sentence for the operator."""


def write_secret_file(path: Path, value: str) -> None:
    """Write `value` to `path` as a new file of mode 0600, replacing any file there atomically.

    The text goes into a temporary file created 0600 beside `path` (O_EXCL: never someone
    else's file, never a moment at the umask's 0644) and is renamed over `path`, so a reader
    sees the old secret or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def make_private(path: Path, what: str) -> None:
    """Tighten an existing file that group or others may read to 0600, with a warning.

    Fixed rather than refused: a kiosk that will not start over a mode bit leaves a school
    without lending until someone with a shell comes by, while the fix is safe and
    certain. The warning says the secret may have been read, so it can be rotated. A file
    we may not change (owned by another user) is refused.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode) or not mode & 0o077:
        # A folder or device in its place is for the reader to refuse, not for us to chmod.
        return
    try:
        path.chmod(PRIVATE_MODE)
    except OSError as exc:
        raise FileProblem(
            f"The {what} {path} can be read by other users (mode {mode:o}) and cannot be "
            f"made private ({exc.strerror}); run: chmod 600 {path}"
        ) from None
    log.warning(
        "%s %s was readable by other users (mode %o): changed to 600; if others could log "
        "in to this machine, replace it",
        what,
        path,
        mode,
    )


def read_secret_file(path: Path | None, what: str = "secret file") -> str | None:
    """The stripped text of a secret file; None when none is configured, it is missing or empty.

    Any other reason it cannot be read (a folder, no permission, not UTF-8) raises FileProblem.
    """
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FileProblem(f"The {what} {path} is a folder, not a file.") from None
    except PermissionError:
        raise FileProblem(
            f"The {what} {path} cannot be read by this user (permission denied)."
        ) from None
    except UnicodeDecodeError:
        raise FileProblem(f"The {what} {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise FileProblem(f"The {what} {path} cannot be read ({exc.strerror}).") from None
    return text.strip() or None


def sqlite_siblings(path: Path) -> list[Path]:
    """The database file and its -wal and -shm companions (whether they exist or not)."""
    return [path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIBLING_SUFFIXES)]


def empty_database_message(path: Path) -> str:
    return (
        f"The database {path} is an empty (0-byte) file, so its data is gone; "
        "refusing to start it again as an empty library."
    )


def prepare_sqlite_file(path: Path) -> None:
    """Make sure the SQLite database at `path` is a private file before SQLite opens it.

    An existing zero-byte file is refused (FileProblem): SQLite would take it for a new,
    empty database. A missing file is created as a new, empty database of mode 0600 (under a temporary name,
    then linked into place, so `path` never exists as a zero-byte file); SQLite gives the
    -wal and -shm files it creates later the database file's own mode. An existing database
    and its companions are tightened to 0600 (`make_private`), or a warning says why not.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if path.stat().st_size == 0:
            raise FileProblem(empty_database_message(path))
        for file in sqlite_siblings(path):
            try:
                make_private(file, "database file")
            except FileProblem as exc:
                # Unlike a secret, a database we may read but not chmod (a read-only mount,
                # another owner) is still served: its readers are the machine's business.
                log.warning("%s", exc)
        return
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        # SQLite would replay these commits into the new, empty file.
        raise FileProblem(
            f"The database {path} is missing but its {wal.name} file (recent changes) is "
            f"still there; put the database back, or move {wal.name} aside too."
        )
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.new")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    os.close(fd)
    try:
        db = sqlite3.connect(temporary, isolation_level=None)
        try:
            # Switching to WAL writes the database header: the file is a database from here on.
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
        # Another process may have created it meanwhile; theirs is as good as ours.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        for file in sqlite_siblings(temporary):
            file.unlink(missing_ok=True)
