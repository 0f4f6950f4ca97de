"""Import directions between the packages, checked on the source (STYLE.md's layering)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# package → the top-level modules it may import besides the stdlib (and itself).
# kiosk.circulation may use python-stdnum: pure check-digit arithmetic, no I/O.
ALLOWED: dict[str, set[str]] = {
    "kiosk/circulation": {"kiosk.circulation", "stdnum"},
    "hardware": {"hardware", "serial"},
    "db": {"db", "sqlalchemy", "alembic"},
    "kiosk/services": {"kiosk.services", "kiosk.circulation", "db", "sqlalchemy"},
    "kiosk/sync": {
        "kiosk.sync",
        "kiosk.services",
        "kiosk.circulation",
        "kiosk.events",
        "kiosk.config",
        "kiosk",
        "db",
        "sqlalchemy",
        "tqdm",
    },
}

# Nothing outside the web layer imports Flask; nothing imports the views.
WEB_LAYER = ("kiosk/views", "kiosk/app.py", "central", "run_kiosk.py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _allowed(name: str, allowed: set[str]) -> bool:
    top = name.split(".")[0]
    if top in STDLIB:
        return True
    return any(name == a or name.startswith(a + ".") or (a == top) for a in allowed)


def _files(folder: str) -> list[Path]:
    base = ROOT / folder
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_directions(package):
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(package)
        if "migrations" not in path.parts
        for name in _imports(path)
        if not _allowed(name, ALLOWED[package])
    ]
    assert bad == []


def test_only_the_web_layer_imports_flask_and_nothing_imports_views():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv", "tests/", "bench/", "build/")):
            continue
        for name in _imports(path):
            if name.split(".")[0] == "flask" and not rel.startswith(WEB_LAYER):
                bad.append(f"{rel} imports {name}")
            if name.startswith("kiosk.views") and not rel.startswith(WEB_LAYER):
                bad.append(f"{rel} imports {name}")
    assert bad == []
