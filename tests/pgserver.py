"""Pytest plugin: a throwaway PostgreSQL cluster (initdb + pg_ctl in /tmp, 127.0.0.1 only) per session.

`postgres_server` starts it once; `PostgresServer.create_database()` gives each test its own
database, copied from a migrated template so a test does not pay for the migrations. Skips
only when no PostgreSQL binaries exist at all (`scripts/system-deps.sh postgres` installs them).
Also used by bench/central_ingest.py, which is why it knows nothing about pytest until the end.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PG_USER_DEFAULT = "postgres"
# The tests need a database, not durability; the benchmark starts its server with fsync on.
FAST_OPTIONS = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def find_pg_bindir() -> Path | None:
    """Where initdb and pg_ctl live: on PATH, or the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        real = Path(on_path).resolve().parent
        if (real / "initdb").exists() and (real / "postgres").exists():
            return real
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_os_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; `stop()` removes it."""

    def __init__(self, bindir: Path, *, fast: bool = True) -> None:
        self.bindir = bindir
        self.fast = fast
        self.port = free_port()
        # Not under pytest's tmp folder: that one is mode 700 for root, and the server runs
        # as an unprivileged user that must reach its data directory.
        self.base = Path(tempfile.mkdtemp(prefix="shuxiang-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.socket_dir = self.base / "sock"
        self.os_user = PG_USER_DEFAULT if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        self._counter = itertools.count(1)
        self.started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            runuser = shutil.which("runuser")
            if runuser:
                cmd = [runuser, "-u", self.os_user, "--", *cmd]
            else:
                cmd = ["su", self.os_user, "-s", "/bin/sh", "-c", " ".join(map(_quote, cmd))]
        return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        if os.geteuid() == 0:
            _ensure_os_user(self.os_user)
        self.socket_dir.mkdir()
        self.data.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self.os_user)
            for path in (self.base, self.data, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            f"unix_socket_directories={self.socket_dir}",
            "-c",
            "max_connections=100",
        ]
        if self.fast:
            options += FAST_OPTIONS
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}")
        self.started = True

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # names are ours, never user input

    def create_database(self, template: str | None = None, name: str | None = None) -> str:
        """A new empty (or template-copied) database; returns its SQLAlchemy URL."""
        name = name or f"t{os.getpid()}_{next(self._counter)}"
        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, url_or_name: str) -> None:
        name = url_or_name.rsplit("/", 1)[-1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


@contextlib.contextmanager
def running_postgres(*, fast: bool = True) -> Iterator[PostgresServer | None]:
    """A started server, or None when PostgreSQL is not installed; stopped on exit."""
    bindir = find_pg_bindir()
    if bindir is None:
        yield None
        return
    server = PostgresServer(bindir, fast=fast)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- pytest ------------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - the benchmark runs without pytest installed
    pytest = None  # type: ignore[assignment]

MIGRATED_TEMPLATE = "shuxiang_migrated"

if pytest is not None:

    @pytest.fixture(scope="session")
    def postgres_server() -> Iterator[PostgresServer]:
        """The session's PostgreSQL server, with a migrated template database."""
        bindir = find_pg_bindir()
        if bindir is None:
            reason = (
                "PostgreSQL binaries not found (no pg_ctl on PATH or under /usr/lib/postgresql); "
                "run scripts/system-deps.sh postgres"
            )
            print(f"\nSKIPPING PostgreSQL tests: {reason}")
            pytest.skip(reason)
        server = PostgresServer(bindir)
        try:
            server.start()
            _make_migrated_template(server)
            yield server
        finally:
            server.stop()

    @pytest.fixture(scope="session")
    def postgres_url(postgres_server: PostgresServer) -> str:
        """URL of the session's default database (shared; prefer `fresh_postgres_url`)."""
        return postgres_server.url("postgres")

    @pytest.fixture
    def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
        """A database of this test's own, migrated to head, dropped afterwards."""
        url = postgres_server.create_database(template=MIGRATED_TEMPLATE)
        yield url
        postgres_server.drop_database(url)


def _make_migrated_template(server: PostgresServer) -> None:
    from central.db import open_central_engine

    url = server.create_database(name=MIGRATED_TEMPLATE)
    engine = open_central_engine(url)
    engine.dispose()
