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
    # db stores the circulation states, defined once with their transitions.
    "db": {"db", "sqlalchemy", "alembic", "kiosk.circulation.states"},
    "kiosk/services": {"kiosk.services", "kiosk.circulation", "kiosk.clock", "db", "sqlalchemy"},
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
WEB_LAYER = ("kiosk/views", "kiosk/app.py", "kiosk/context.py", "central", "run_kiosk.py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            # `from kiosk.views import api` imports the module kiosk.views.api.
            names += [f"{node.module}.{alias.name}" for alias in node.names]
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


OUR_PACKAGES = ("kiosk", "central", "db", "hardware")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of ours it imports (anywhere in the file, functions included)."""
    files = {
        _module_name(path): path
        for package in OUR_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = set()
        for name in _imports(path):
            target = resolve(name)
            if target is not None and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_planted_cycle():
    graph = import_graph()
    # kiosk.app imports the views; a view importing kiosk.app back is the cycle we removed.
    graph["kiosk.views.api"] = graph["kiosk.views.api"] | {"kiosk.app"}
    assert ["kiosk.app", "kiosk.views.api"] in cycles(graph)
