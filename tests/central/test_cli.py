"""The central's commands: central-add-kiosk, add-user, central-demo-data; and its migration."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

import db.central_models  # noqa: F401  (the central tables must be on Base for the comparison)
import run_kiosk
from db.central_models import ChangeCounter, Kiosk, StaffUser
from db.migrate import current_revision, head_revision, include_name
from db.models import Base, Patron
from tests.central.conftest import CentralDB


@pytest.fixture
def config(tmp_path: Path, central_db: CentralDB) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{central_db.url}"\n'
    )
    return path


def test_add_kiosk_prints_token_once_and_stores_hash(
    config: Path, central_db: CentralDB, capsys: pytest.CaptureFixture[str]
):
    assert run_kiosk.main(["central-add-kiosk", "k1", "--config", str(config)]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert len(token) >= 40
    with central_db.factory() as s:
        kiosk = s.get(Kiosk, "k1")
        assert kiosk is not None
        assert kiosk.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    # A second registration is refused unless asked to rotate.
    assert run_kiosk.main(["central-add-kiosk", "k1", "--config", str(config)]) == 2
    assert run_kiosk.main(["central-add-kiosk", "k1", "--rotate", "--config", str(config)]) == 0


def test_add_kiosk_token_file_if_missing(config: Path, tmp_path: Path, central_db: CentralDB):
    token_file = tmp_path / "var" / "kiosk_token"
    args = ["central-add-kiosk", "k1", "--token-file", str(token_file), "--if-missing"]
    assert run_kiosk.main([*args, "--config", str(config)]) == 0
    token = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o077 == 0
    assert run_kiosk.main([*args, "--config", str(config)]) == 0
    assert token_file.read_text().strip() == token  # idempotent: same token kept


def test_add_user_from_password_file(config: Path, tmp_path: Path, central_db: CentralDB):
    secret = tmp_path / "pw"
    secret.write_text("short\n")
    args = ["add-user", "wang", "--role", "admin", "--password-file", str(secret)]
    assert run_kiosk.main([*args, "--config", str(config)]) == 2  # too short
    secret.write_text("long enough password\n")
    assert run_kiosk.main([*args, "--config", str(config)]) == 0
    assert run_kiosk.main([*args, "--if-missing", "--config", str(config)]) == 0
    with central_db.factory() as s:
        user = s.scalar(select(StaffUser))
        assert user is not None and user.role == "admin"
        assert user.password_hash.startswith("$argon2id$")
        assert "long enough" not in user.password_hash


def test_central_demo_data_is_pullable(config: Path, central_db: CentralDB):
    assert run_kiosk.main(["central-demo-data", "--config", str(config)]) == 0
    assert run_kiosk.main(["central-demo-data", "--if-empty", "--config", str(config)]) == 0
    with central_db.factory() as s:
        assert s.scalar(select(Patron).limit(1)) is not None
        counter = s.get(ChangeCounter, 1)
        assert counter is not None and counter.version > 0


def test_migrations_at_head_match_models(central_db: CentralDB):
    assert current_revision(central_db.engine) == head_revision(central_db.engine)
    with central_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
