"""Import directions between our packages, checked on the source (STYLE.md's layering).

Every module of ours belongs to one layer below; a layer may import the standard library, its
own modules and what it declares. A new package or top-level module must be declared here
before the test passes. Planted violations at the end show that each rule bites.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
OUR_PACKAGES = ("kiosk", "central", "db", "hardware")
ANYTHING = frozenset({"*"})


@dataclass(frozen=True)
class Layer:
    """`path`: a folder or file; its own modules it may always import. `ours`: our other
    modules or packages it may import (a package means everything in it, but "kiosk" alone means
    kiosk/__init__.py). `third_party`: top-level names."""

    path: str
    ours: frozenset[str] = frozenset()
    third_party: frozenset[str] = frozenset()


def layer(path: str, ours: set[str] | frozenset[str] = frozenset(), third_party=()) -> Layer:
    return Layer(path, frozenset(ours), frozenset(third_party))


# The web layer (Flask) may use anything of the kiosk; the central only its own package, db,
# the pure rules, the config, the clock, the demo library and the WSGI server wrapper.
KIOSK_CORE = {
    "kiosk",
    "kiosk.exitcodes",
    "kiosk.circulation",
    "kiosk.clock",
    "kiosk.config",
    "kiosk.events",
    "kiosk.i18n",
    "kiosk.errorlog",
    "kiosk.services",
    "kiosk.search",
    "kiosk.importing",
    "kiosk.desk",
    "kiosk.health",
    "kiosk.status",
    "kiosk.sync",
    "kiosk.parts",
    "kiosk.serving",
    "kiosk.browser",
    "kiosk.staffgate",
    "kiosk.throttle",
    "kiosk.streams",
    "kiosk.remote",
    "kiosk.jsonapi",
    "db",
    "hardware",
}
LAYERS = [
    layer("kiosk/__init__.py"),
    layer("kiosk/circulation", {"kiosk.circulation"}, {"stdnum"}),
    layer("kiosk/clock.py"),
    layer("kiosk/exitcodes.py"),
    layer("kiosk/events.py"),
    # Secret files are read (and their problems worded) by db.files, which is stdlib only.
    # The school year's dates are parsed and checked by the pure rules that use them.
    layer(
        "kiosk/config.py",
        {
            "db.files",
            "kiosk.streams",
            "kiosk.circulation.schoolyear",
            "kiosk.circulation.compensation",
        },
    ),
    layer("kiosk/streams.py"),
    layer("kiosk/remote.py"),
    layer("kiosk/errorlog.py"),
    layer("kiosk/i18n.py", third_party={"babel"}),
    layer("hardware", {"hardware"}, {"serial", "evdev"}),
    # db stores the circulation states, defined once with their transitions.
    layer(
        "db",
        {
            "db",
            "kiosk.circulation.states",
            "kiosk.circulation.overdue",
            "kiosk.circulation.compensation",
        },
        {"sqlalchemy", "alembic"},
    ),
    layer(
        "kiosk/services",
        {"kiosk.services", "kiosk.circulation", "kiosk.clock", "kiosk.search", "db"},
        {"sqlalchemy", "pypinyin", "openpyxl", "fpdf", "pygal"},
    ),
    # The search engine: used by the kiosk, the central and its console; no Flask, no views.
    layer("kiosk/search", {"kiosk.search", "kiosk.circulation", "db"}, {"sqlalchemy", "pypinyin"}),
    layer(
        "kiosk/importing",
        {
            "kiosk.importing",
            "kiosk.services",
            "kiosk.circulation",
            "kiosk.config",
            "kiosk.exitcodes",
            "db",
        },
        {"sqlalchemy", "pymarc", "stdnum", "tqdm", "openpyxl"},
    ),
    layer("kiosk/health.py", {"kiosk.services.statements"}),
    layer("kiosk/policies.py", {"kiosk.circulation", "kiosk.config"}),
    layer(
        "kiosk/desk.py",
        {
            "kiosk.circulation",
            "kiosk.services",
            "kiosk.clock",
            "kiosk.config",
            "kiosk.events",
            "kiosk.health",
            "kiosk.policies",
            "db",
        },
    ),
    layer(
        "kiosk/status.py",
        {
            "kiosk",
            "kiosk.circulation",
            "kiosk.services",
            "kiosk.clock",
            "kiosk.config",
            "kiosk.health",
            "db",
        },
        {"sqlalchemy"},
    ),
    layer(
        "kiosk/sync",
        {
            "kiosk.sync",
            "kiosk.services",
            "kiosk.circulation",
            "kiosk.clock",
            "kiosk.config",
            "kiosk.exitcodes",
            "kiosk.events",
            "kiosk.status",
            "db",
        },
        {"sqlalchemy", "tqdm"},
    ),
    layer(
        "kiosk/parts.py",
        {
            "kiosk.desk",
            "kiosk.events",
            "kiosk.config",
            "kiosk.clock",
            "kiosk.status",
            "kiosk.sync.client",
            "kiosk.streams",
            "db",
        },
        {"sqlalchemy"},
    ),
    layer("kiosk/serving.py", third_party={"waitress"}),
    layer("kiosk/browser.py", {"kiosk.config", "kiosk.remote"}),
    layer("kiosk/staffgate.py", {"kiosk.config", "kiosk.exitcodes", "db.files"}),
    # Flask-Limiter set up the same way for the staff page and the console's sign-in.
    layer("kiosk/throttle.py", third_party={"flask", "flask_limiter"}),
    # JSON errors and the strict JSON parser, shared by the kiosk's and the central's apps.
    layer("kiosk/jsonapi.py", third_party={"flask", "werkzeug"}),
    # The kiosk's web layer.
    layer("kiosk/app.py", KIOSK_CORE | {"kiosk.context", "kiosk.views"}, ANYTHING),
    layer("kiosk/context.py", KIOSK_CORE | {"kiosk.context"}, ANYTHING),
    layer("kiosk/views", KIOSK_CORE | {"kiosk.context", "kiosk.views"}, ANYTHING),
    layer(
        "central",
        {
            "central",
            "db",
            "kiosk.circulation",
            "kiosk.clock",
            "kiosk.config",
            "kiosk.exitcodes",
            # The console's import pages run the same import code as the command line.
            "kiosk.importing",
            "kiosk.policies",
            "kiosk.serving",
            "kiosk.jsonapi",
            # The console's catalog is compiled the way the kiosk's is.
            "kiosk.i18n",
            "kiosk.services.demo",
            # PIN hashing (stdlib only): the roster import writes hashes, the OPAC checks them.
            "kiosk.services.opac_pin",
            "kiosk.throttle",
            "kiosk.search",
            # Copies added at the console get barcodes made up as the catalog import makes them;
            # the labels find the copies whose barcodes were made up.
            "kiosk.services.catalog",
            # The desk lends, returns and renews by the kiosk's own flow (database-free; the
            # desk gives it the central's reads and the ledger as its store).
            "kiosk.services.lending",
        },
        ANYTHING,
    ),
    layer("run_kiosk.py", {"*"}, ANYTHING),
]
# Only the app factories import the blueprints.
VIEW_IMPORTERS = {"kiosk.views": {"kiosk.app"}, "central.views": {"central.app"}}
FLASK_LAYERS = (
    "kiosk/app.py",
    "kiosk/context.py",
    "kiosk/views",
    "kiosk/throttle.py",
    "kiosk/jsonapi.py",
    "central",
    "run_kiosk.py",
)


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_files() -> dict[str, Path]:
    files = {
        _module_name(path): path
        for package in OUR_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    files["run_kiosk"] = ROOT / "run_kiosk.py"
    return files


@dataclass
class Graph:
    """Module → our modules it imports, and the third-party top-level names it imports."""

    ours: dict[str, set[str]]
    third_party: dict[str, set[str]]
    paths: dict[str, str]


def import_graph() -> Graph:
    files = our_files()

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = Graph({}, {}, {})
    for module, path in files.items():
        ours, others = set(), set()
        for name in _imports(path):
            top = name.split(".")[0]
            if top in OUR_PACKAGES:
                target = resolve(name)
                if target is not None and target != module:
                    ours.add(target)
            elif top not in STDLIB:
                others.add(top)
        graph.ours[module] = ours
        graph.third_party[module] = others
        graph.paths[module] = path.relative_to(ROOT).as_posix()
    return graph


def _layer_of(path: str) -> Layer | None:
    matches = [lay for lay in LAYERS if path == lay.path or path.startswith(lay.path + "/")]
    return max(matches, key=lambda lay: len(lay.path)) if matches else None


def _within(module: str, allowed: frozenset[str]) -> bool:
    if "*" in allowed:
        return True
    return any(module == a or (a != "kiosk" and module.startswith(a + ".")) for a in allowed)


def violations(graph: Graph) -> list[str]:
    found = []
    for module, targets in sorted(graph.ours.items()):
        path = graph.paths[module]
        lay = _layer_of(path)
        if lay is None:
            found.append(f"{path} belongs to no layer: declare it in tests/test_layering.py")
            continue
        own = lay.path.removesuffix(".py").replace("/", ".")
        for target in sorted(targets):
            if not (target == own or target.startswith(own + ".") or _within(target, lay.ours)):
                found.append(f"{path} imports {target}")
            for views, importers in VIEW_IMPORTERS.items():
                inside = module == views or module.startswith(views + ".")
                if _within(target, frozenset({views})) and not inside and module not in importers:
                    found.append(f"{path} imports {target}: only {sorted(importers)} may")
        for name in sorted(graph.third_party[module]):
            if not _within(name, lay.third_party):
                found.append(f"{path} imports {name}")
            if name == "flask" and not path.startswith(FLASK_LAYERS):
                found.append(f"{path} imports flask outside the web layer")
    return found


def cycles(ours: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(ours.get(node, ())):
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

    for node in sorted(ours):
        if node not in index:
            visit(node)
    return found


def test_every_module_keeps_to_its_layer():
    assert violations(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph().ours) == []


# --- planted violations: each rule bites -------------------------------------------------------


def planted(module: str, *, ours: str | None = None, third_party: str | None = None) -> list[str]:
    graph = import_graph()
    if ours is not None:
        graph.ours[module] = graph.ours[module] | {ours}
    if third_party is not None:
        graph.third_party[module] = graph.third_party[module] | {third_party}
    return violations(graph)


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("kiosk.sync.worker", "kiosk.desk", "kiosk/sync/worker.py imports kiosk.desk"),
        ("kiosk.sync.push", "kiosk.app", "kiosk/sync/push.py imports kiosk.app"),
        ("central.ledger", "kiosk.desk", "central/ledger.py imports kiosk.desk"),
        (
            "central.ledger",
            "kiosk.services.circulation",
            "central/ledger.py imports kiosk.services",
        ),
        ("hardware.serial_scanner", "kiosk.events", "hardware/serial_scanner.py imports kiosk"),
        ("kiosk.circulation.rules", "db.models", "kiosk/circulation/rules.py imports db.models"),
        ("kiosk.services.outbox", "kiosk.sync.push", "kiosk/services/outbox.py imports kiosk.sync"),
        ("kiosk.importing.catalog", "kiosk.desk", "kiosk/importing/catalog.py imports kiosk.desk"),
        ("kiosk.importing.marc", "kiosk.views.api", "kiosk/importing/marc.py imports kiosk.views"),
        ("central.monitor", "central.views.api", "only ['central.app'] may"),
        ("kiosk.views.api", "kiosk.app", "kiosk/views/api.py imports kiosk.app"),
    ],
)
def test_a_planted_import_is_caught(module: str, target: str, expected: str):
    assert any(expected in v for v in planted(module, ours=target)), expected


def test_flask_outside_the_web_layer_is_caught():
    found = planted("kiosk.services.outbox", third_party="flask")
    assert "kiosk/services/outbox.py imports flask outside the web layer" in found


def test_an_undeclared_package_is_caught():
    graph = import_graph()
    graph.ours["kiosk.reports.daily"] = set()
    graph.third_party["kiosk.reports.daily"] = set()
    graph.paths["kiosk.reports.daily"] = "kiosk/reports/daily.py"
    assert violations(graph) == [
        "kiosk/reports/daily.py belongs to no layer: declare it in tests/test_layering.py"
    ]


def test_the_cycle_check_finds_a_planted_cycle():
    graph = import_graph()
    # kiosk.app imports the views; a view importing kiosk.app back is the cycle we removed.
    graph.ours["kiosk.views.api"] = graph.ours["kiosk.views.api"] | {"kiosk.app"}
    assert ["kiosk.app", "kiosk.views.api"] in cycles(graph.ours)
