"""Benchmark: the console's record pages at district scale, over HTTP, on SQLite and PostgreSQL.

A district's central database (10 000 students in 300 classes, 100 000 titles, 200 000 copies,
2 000 000 returned loans, open loans, waiting and ready holds) is built once with bulk inserts
and kept under var/bench/ (rerun with --rebuild to make it again); PostgreSQL is loaded from it
with COPY. Then, through the Flask test client signed in as a librarian, it times the student
page, the copy page, the hold-shelf list (when the desk's page is part of the console) and the
find box, each request interleaved with the page's main query run bare on the same database in
the same process. Both are timed without the indexes the pages added (db/central_models.py,
migration 0012) and with them. p95 per round; the median of the rounds and their spread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, text

# Runnable as `python bench/console_pages.py` from the repo root: the packages live beside bench/.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from central.app import create_central_app  # noqa: E402 - needs ROOT on sys.path
from central.auth import add_user  # noqa: E402
from central.db import open_central_engine  # noqa: E402
from db.central_models import PAGE_INDEXES  # noqa: E402
from db.engine import make_session_factory  # noqa: E402
from db.models import Base, Hold, Item, Loan, Patron, Title  # noqa: E402
from kiosk.config import parse_settings  # noqa: E402
from kiosk.search.index import index_titles  # noqa: E402
from tests.pgserver import running_postgres  # noqa: E402

TARGET_P95_MS = 150.0
CACHE_DIR = ROOT / "var" / "bench"
PASSWORD = "bench password 123"
NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤欧阳"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
_GRADES = "一二三四五六"


def _load_search_bench() -> Any:
    """bench/search.py's catalogue generator: the same made-up titles the search is timed on."""
    spec = importlib.util.spec_from_file_location("bench_search", ROOT / "bench" / "search.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- building the district ----------------------------------------------------------------------


def _uuid(n: int, kind: int) -> str:
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


def make_district(
    students: int, classes: int, titles: int, copies: int, loans: int, seed: int = 5
) -> dict[str, list[dict[str, Any]]]:
    """Rows of every table the pages read, as plain dicts for bulk inserts."""
    rng = random.Random(seed)
    catalog = _load_search_bench().make_catalog(titles)
    for row in catalog:
        row["created_at"] = NOW - dt.timedelta(days=rng.randint(30, 2000))
        row["updated_at"] = row["created_at"]
    per_grade = max(1, classes // len(_GRADES))
    patrons = []
    for n in range(students):
        grade = n % len(_GRADES)
        klass = (n // len(_GRADES)) % per_grade + 1
        name = rng.choice(_SURNAMES) + "".join(rng.sample(_GIVEN, rng.choice((1, 2))))
        patrons.append(
            {
                "id": n + 1,
                "student_number": f"S{2020000 + n}",
                "card_barcode": f"{30000000 + n}",
                "name": name,
                "class_name": f"{_GRADES[grade]}年级{klass}班",
                "grade": str(grade + 1),
                "status": "active" if rng.random() > 0.01 else "blocked",
                "block_reason": "",
                "parent_name": name[0] + "先生",
                "parent_phone": f"138{n:08d}",
                "parent_email": "",
                "opac_pin_hash": "",
                "updated_at": NOW,
            }
        )
    items = []
    for n in range(copies):
        title = catalog[n % titles]
        items.append(
            {
                "id": n + 1,
                "barcode": f"T{n + 1:07d}",
                "title_id": title["id"],
                "location": f"{(n % 8) + 1}号书架",
                "status": "available",
                "created_at": title["created_at"],
            }
        )
    loan_rows = []
    per_item = max(1, loans // copies)
    span_days = 3 * 365
    for item in items:
        day = rng.randint(0, 60)
        for _ in range(per_item):
            out = NOW - dt.timedelta(days=span_days - day, hours=rng.randint(0, 8))
            back = out + dt.timedelta(days=rng.randint(1, 20))
            if back >= NOW - dt.timedelta(days=2):
                break
            loan_rows.append(
                {
                    "id": len(loan_rows) + 1,
                    "uuid": _uuid(len(loan_rows) + 1, 1),
                    "item_id": item["id"],
                    "patron_id": rng.randint(1, students),
                    "checked_out_at": out,
                    "due_at": out + dt.timedelta(days=14),
                    "returned_at": back,
                    "renewals": 0,
                    "kiosk_id": f"kiosk-{rng.randint(1, 40)}",
                    "returned_kiosk_id": None,
                }
            )
            day += (back - out).days + rng.randint(1, 90)
    # About one open loan per student, a tenth of them overdue; some copies on the hold shelf.
    lent = rng.sample(range(copies), students)
    for n, index in enumerate(lent):
        item = items[index]
        item["status"] = "on_loan"
        out = NOW - dt.timedelta(days=rng.randint(0, 13 if n % 10 else 40))
        loan_rows.append(
            {
                "id": len(loan_rows) + 1,
                "uuid": _uuid(len(loan_rows) + 1, 1),
                "item_id": item["id"],
                "patron_id": n % students + 1,
                "checked_out_at": out,
                "due_at": out + dt.timedelta(days=14),
                "returned_at": None,
                "renewals": 0,
                "kiosk_id": "kiosk-1",
                "returned_kiosk_id": None,
            }
        )
    holds = []
    lent_set = set(lent)
    shelf = [i for i in rng.sample(range(copies), 2000) if i not in lent_set][:500]
    for n, index in enumerate(shelf):
        items[index]["status"] = "on_hold_shelf"
        holds.append(
            {
                "id": n + 1,
                "uuid": _uuid(n + 1, 2),
                "title_id": items[index]["title_id"],
                "patron_id": rng.randint(1, students),
                "item_id": items[index]["id"],
                "status": "ready",
                "placed_at": NOW - dt.timedelta(days=rng.randint(3, 20)),
                "ready_at": NOW - dt.timedelta(days=rng.randint(0, 2)),
            }
        )
    for _ in range(3000):
        holds.append(
            {
                "id": len(holds) + 1,
                "uuid": _uuid(len(holds) + 1, 2),
                "title_id": rng.randint(1, titles),
                "patron_id": rng.randint(1, students),
                "item_id": None,
                "status": "waiting",
                "placed_at": NOW - dt.timedelta(days=rng.randint(0, 30)),
                "ready_at": None,
            }
        )
    return {
        "titles": catalog,
        "patrons": patrons,
        "items": items,
        "loans": loan_rows,
        "holds": holds,
    }


TABLE_ORDER = ("titles", "patrons", "items", "loans", "holds")
# The search engine's rows, written by index_titles on SQLite and copied to PostgreSQL.
SEARCH_TABLES = ("title_search", "title_pinyin")


def build_sqlite(path: Path, args: argparse.Namespace) -> None:
    """The district in a new SQLite file at `path`: migrated, bulk-loaded, indexed, analysed."""
    started = time.perf_counter()
    district = make_district(args.students, args.classes, args.titles, args.copies, args.loans)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    engine = open_central_engine(str(tmp))
    factory = make_session_factory(engine)
    with factory.begin() as session:
        for name in TABLE_ORDER:
            table = Base.metadata.tables[name]
            columns = set(table.c.keys())
            rows = [{k: v for k, v in r.items() if k in columns} for r in district[name]]
            for start in range(0, len(rows), 20_000):
                session.execute(insert(table), rows[start : start + 20_000])
    ids = [row["id"] for row in district["titles"]]
    for start in range(0, len(ids), 10_000):
        with factory.begin() as session:
            index_titles(session, ids[start : start + 10_000])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    tmp.rename(path)
    print(
        f"built {path.name}: {len(district['loans'])} loans in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )


def load_postgres(engine: Engine, sqlite_path: Path) -> None:
    """Copy the cached district from SQLite into a migrated PostgreSQL database (COPY)."""
    started = time.perf_counter()
    source = sqlite3.connect(sqlite_path)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name in (*TABLE_ORDER, *SEARCH_TABLES):
            table = Base.metadata.tables[name]
            columns = list(table.c.keys())
            listed = ", ".join(columns)
            with cursor.copy(f"COPY {name} ({listed}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in source.execute(f"SELECT {listed} FROM {name}"):
                    copy.write_row(row)
            if "id" in columns:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
        raw.commit()
    finally:
        raw.close()
        source.close()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    print(f"loaded PostgreSQL from the cache in {time.perf_counter() - started:.0f} s", flush=True)


# --- timing -------------------------------------------------------------------------------------


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


@contextmanager
def signed_in_client(engine: Engine, url: str, tmp: Path) -> Iterator[Any]:
    settings = parse_settings(
        {
            "database": {"path": str(tmp / "kiosk.sqlite3")},
            "central": {"database_url": url},
        },
        tmp,
        tmp / "config.toml",
    )
    app = create_central_app(settings, engine=engine, clock=lambda: NOW)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        add_user(session, "bench", PASSWORD, "librarian", NOW)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "no CSRF token on the sign-in page"
    reply = client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert reply.status_code == 302, f"sign-in failed: {reply.status_code}"
    try:
        yield app, client
    finally:
        with factory.begin() as session:
            session.execute(text("DELETE FROM central_console_sessions"))
            session.execute(text("DELETE FROM central_staff_users WHERE username = 'bench'"))


def _bare(engine: Engine, sql: Any) -> Callable[[dict[str, Any]], None]:
    """The page's main query alone: compiled once, run on a connection, every row fetched."""

    def run(params: dict[str, Any]) -> None:
        with engine.connect() as conn:
            conn.execute(sql, params).all()

    return run


def page_plans(engine: Engine, app: Any, rng: random.Random, n: int) -> dict[str, Any]:
    """For each page: the URLs to fetch, the bare query and its parameters, request by request."""
    with engine.connect() as conn:
        students = conn.scalar(select(func.max(Patron.id))) or 1
        copies = conn.scalar(select(func.max(Item.id))) or 1
        names = [r[0] for r in conn.execute(select(Patron.name).limit(2000))]
        words = [r[0] for r in conn.execute(select(Title.title).limit(2000))]
    loan_cols = (Loan.id, Item.barcode, Title.title, Loan.checked_out_at, Loan.due_at)
    # The student page is built around the student's loans, newest first, with copy and title.
    patron_sql = (
        select(*loan_cols, Loan.returned_at)
        .join(Item, Item.id == Loan.item_id)
        .join(Title, Title.id == Item.title_id)
        .where(Loan.patron_id == bindparam("patron_id"))
        .order_by(Loan.checked_out_at.desc())
        .limit(20)
    )
    # The copy page around the copy's loans, newest first, with the students' names.
    item_sql = (
        select(Loan.id, Patron.name, Loan.checked_out_at, Loan.returned_at)
        .join(Patron, Patron.id == Loan.patron_id)
        .where(Loan.item_id == bindparam("item_id"))
        .order_by(Loan.checked_out_at.desc())
        .limit(20)
    )
    # The find box's widest step: students whose name contains the two characters.
    find_sql = select(Patron.id).where(Patron.name.like(bindparam("pattern"))).limit(200)
    plans: dict[str, Any] = {}
    patron_ids = [rng.randint(1, students) for _ in range(n)]
    plans["student page"] = (
        [f"/patrons/{i}" for i in patron_ids],
        _bare(engine, patron_sql),
        [{"patron_id": i} for i in patron_ids],
    )
    item_ids = [rng.randint(1, copies) for _ in range(n)]
    plans["copy page"] = (
        [f"/items/{i}" for i in item_ids],
        _bare(engine, item_sql),
        [{"item_id": i} for i in item_ids],
    )
    queries = []
    for k in range(n):
        source = rng.choice(names) if k % 2 else rng.choice(words)
        start = rng.randint(0, max(0, len(source) - 2))
        queries.append(source[start : start + 2])
    plans["find (two characters)"] = (
        [f"/find?q={q}" for q in queries],
        _bare(engine, find_sql),
        [{"pattern": f"%{q}%"} for q in queries],
    )
    shelf_rule = next(
        (
            r
            for r in app.url_map.iter_rules()
            if r.endpoint.startswith("desk.") and "shelf" in r.endpoint
        ),
        None,
    )
    if shelf_rule is not None:
        shelf_sql = (
            select(Hold.id, Title.title, Patron.name, Hold.ready_at)
            .join(Title, Title.id == Hold.title_id)
            .join(Patron, Patron.id == Hold.patron_id)
            .where(Hold.status == "ready")
            .order_by(Hold.ready_at)
        )
        plans["hold-shelf list"] = ([shelf_rule.rule] * n, _bare(engine, shelf_sql), [{}] * n)
    return plans


def measure(
    label: str, engine: Engine, url: str, rounds: int, n: int, only: tuple[str, ...] = ()
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="shuxiang-bench-") as tmp,
        signed_in_client(engine, url, Path(tmp)) as (app, client),
    ):
        plans = page_plans(engine, app, random.Random(3), n)
        if only:
            plans = {k: v for k, v in plans.items() if any(word in k for word in only)}
        if not any(name.startswith("hold") for name in plans):
            print(f"{label}: hold-shelf list not timed: the desk's page is not in this console")
        for phase in ("without the page indexes", "with the page indexes"):
            with engine.begin() as conn:
                for index in PAGE_INDEXES:
                    if phase.startswith("without"):
                        index.drop(conn, checkfirst=True)
                    else:
                        index.create(conn, checkfirst=True)
                _analyse(conn)
            per_page: dict[str, Any] = {}
            for page, (urls, bare, params) in plans.items():
                # Warm-up: templates compiled, the database's cache filled.
                for u in urls[:10]:
                    assert client.get(u).status_code == 200, u
                page_ms: list[list[float]] = [[] for _ in range(rounds)]
                bare_ms: list[list[float]] = [[] for _ in range(rounds)]
                for r in range(rounds):
                    for u, p in zip(urls, params, strict=True):
                        started = time.perf_counter()
                        bare(p)
                        bare_ms[r].append((time.perf_counter() - started) * 1000)
                        started = time.perf_counter()
                        status = client.get(u).status_code
                        page_ms[r].append((time.perf_counter() - started) * 1000)
                        assert status in (200, 302), (u, status)
                p95 = [_p95(x) for x in page_ms]
                bare_p95 = [_p95(x) for x in bare_ms]
                per_page[page] = {
                    "page_p50_ms": round(statistics.median(t for x in page_ms for t in x), 2),
                    "page_p95_ms": round(statistics.median(p95), 2),
                    "page_p95_spread_ms": [round(min(p95), 2), round(max(p95), 2)],
                    "bare_p50_ms": round(statistics.median(t for x in bare_ms for t in x), 2),
                    "bare_p95_ms": round(statistics.median(bare_p95), 2),
                }
                f = per_page[page]
                print(
                    f"{label} {phase}: {page:<22} page p50 {f['page_p50_ms']:7.2f} ms "
                    f"p95 {f['page_p95_ms']:7.2f} ms (rounds {f['page_p95_spread_ms'][0]:.1f}–"
                    f"{f['page_p95_spread_ms'][1]:.1f})   bare query p50 {f['bare_p50_ms']:6.2f} ms "
                    f"p95 {f['bare_p95_ms']:6.2f} ms",
                    flush=True,
                )
            results["before" if phase.startswith("without") else "after"] = per_page
    results["meets_target"] = all(
        f["page_p95_ms"] <= TARGET_P95_MS for f in results["after"].values()
    )
    return results


def _analyse(conn: Any) -> None:
    # The planner's statistics must know the indexes just made or dropped (both databases).
    conn.exec_driver_sql("ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=200_000)
    parser.add_argument("--loans", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="build the cached district again")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--pages",
        default="",
        help="time only the pages whose name contains one of these comma-separated words "
        "(e.g. 'hold'), so one page's change is measured without the others' minutes",
    )
    args = parser.parse_args()
    only = tuple(word for word in args.pages.split(",") if word)
    scale = f"{args.students}s-{args.classes}c-{args.titles}t-{args.copies}i-{args.loans}l"
    cached = CACHE_DIR / f"console_pages-{scale}.sqlite3"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    if args.rebuild or not cached.exists():
        build_sqlite(cached, args)
    print(
        f"district {scale}; {args.requests} requests per page, {args.rounds} rounds, each "
        "interleaved with the page's bare main query",
        flush=True,
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shuxiang-bench-") as tmp:
        # A working copy: the timing adds a user and drops and creates indexes.
        work = Path(tmp) / "central.sqlite3"
        shutil.copyfile(cached, work)
        engine = open_central_engine(str(work))
        results["sqlite"] = measure("SQLite", engine, str(work), args.rounds, args.requests, only)
        engine.dispose()
    if args.skip_postgres:
        results["postgresql"] = None
    else:
        with running_postgres(fast=False) as server:
            if server is None:
                print("PostgreSQL: skipped, no PostgreSQL binaries found", flush=True)
                results["postgresql"] = None
            else:
                url = server.create_database()
                engine = open_central_engine(url)
                load_postgres(engine, cached)
                results["postgresql"] = measure(
                    "PostgreSQL", engine, url, args.rounds, args.requests, only
                )
                engine.dispose()
    summary = {
        "benchmark": "console_pages",
        "scale": scale,
        **results,
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": all(r["meets_target"] for r in results.values() if r),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
