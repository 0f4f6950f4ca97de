"""Benchmark: search latency per kind of query over 200 000 generated Chinese titles, SQLite and PostgreSQL.

For each kind (1, 2, 3+ characters, full pinyin, initials, ISBN) it times the whole engine
(`search_titles`, ranking and availability included) against the raw index query the same
kind starts with (the FTS5 MATCH / tsquery, the pinyin key range, the ISBN lookup), the two
interleaved query by query, over several rounds. It also prints what the search index adds
to the kiosk's SQLite file and how long indexing the catalog took.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text

# Runnable as `python bench/search.py` from the repo root: the packages live beside bench/.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from db.engine import make_engine, make_session_factory  # noqa: E402 - needs ROOT on sys.path
from db.migrate import upgrade  # noqa: E402
from db.models import Base, ItemStatus, TitlePinyin  # noqa: E402
from kiosk.search.index import index_titles  # noqa: E402
from kiosk.search.query import CANDIDATES_PER_WAY, search_titles  # noqa: E402
from kiosk.search.text import compact, phrase, pinyin_keys  # noqa: E402
from tests.pgserver import running_postgres  # noqa: E402

TARGET_P95_MS = 30.0
KINDS = ("1 char", "2 chars", "3+ chars", "full pinyin", "initials", "ISBN")
LIMIT = 20

# Vocabulary for made-up but plausible titles of a school library: the same common words
# recur across thousands of titles, as 的, 小, 故事 and 中国 do in a real catalogue.
_ADJECTIVES = [
    "小",
    "大",
    "老",
    "新",
    "红",
    "绿",
    "蓝",
    "白",
    "黑",
    "金",
    "快乐",
    "美丽",
    "勇敢",
    "神奇",
    "奇妙",
    "遥远",
    "古老",
    "聪明",
    "善良",
    "淘气",
    "孤独",
    "温暖",
    "寂静",
    "secret",
]
_NOUNS = [
    "王子",
    "公主",
    "狐狸",
    "兔子",
    "小猫",
    "小狗",
    "大象",
    "老虎",
    "狮子",
    "熊猫",
    "星星",
    "月亮",
    "太阳",
    "森林",
    "大海",
    "河流",
    "长江",
    "黄河",
    "山",
    "城堡",
    "花园",
    "草原",
    "沙漠",
    "雪山",
    "岛屿",
    "火车",
    "飞船",
    "机器人",
    "恐龙",
    "魔法",
    "宝藏",
    "秘密",
    "梦想",
    "朋友",
    "妈妈",
    "爸爸",
    "爷爷",
    "奶奶",
    "老师",
    "同学",
    "学校",
    "教室",
    "图书馆",
    "银行",
    "医院",
    "音乐",
    "画家",
    "诗人",
    "将军",
    "皇帝",
    "侦探",
    "船长",
    "厨师",
    "蝴蝶",
    "蜜蜂",
    "种子",
    "大树",
    "风筝",
    "灯笼",
    "雨伞",
    "钟表",
    "石头",
    "房子",
    "桥",
    "路",
    "门",
    "窗",
    "信",
    "书",
    "歌",
    "梦",
    "家",
    "心",
    "春",
    "夏",
    "秋",
    "冬",
]
_PLACES = [
    "北京",
    "上海",
    "重庆",
    "长安",
    "西湖",
    "江南",
    "东北",
    "西藏",
    "新疆",
    "云南",
    "广州",
    "南京",
    "苏州",
    "杭州",
    "中国",
    "世界",
    "宇宙",
]
_SUBJECTS = [
    "数学",
    "语文",
    "英语",
    "科学",
    "历史",
    "地理",
    "物理",
    "化学",
    "生物",
    "天文",
    "动物",
    "植物",
    "人体",
    "地球",
    "海洋",
    "恐龙",
    "昆虫",
]
_PATTERNS = (
    "{a}{n}",
    "{n}的{n}",
    "{a}{n}的故事",
    "{p}{n}",
    "{n}与{n}",
    "{a}的{n}",
    "我的{n}",
    "{n}去{p}",
    "{p}的{a}{n}",
    "十万个为什么：{s}",
    "{s}知识大全",
    "写给孩子的{s}",
    "{n}历险记",
    "{n}日记",
    "{a}{n}和{a}{n}",
    "{n}{n}",
    "{n}",
)
_SURNAMES = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "高",
    "林",
    "罗",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "曹",
    "曾",
    "单",
    "欧阳",
    "司马",
]
_GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀",
    "霞",
    "平",
    "刚",
    "桂",
    "文",
    "华",
    "红",
    "玉",
    "兰",
    "乐",
    "行",
    "长",
    "重",
]
_PUBLISHERS = [
    "人民文学出版社",
    "少年儿童出版社",
    "江苏少年儿童出版社",
    "浙江少年儿童出版社",
    "中国少年儿童出版社",
    "接力出版社",
    "译林出版社",
    "上海译文出版社",
    "重庆出版社",
    "长江文艺出版社",
    "二十一世纪出版社",
    "新蕾出版社",
]
_CLASSES = [
    "I287",
    "I247",
    "I712",
    "I561",
    "K928",
    "K827",
    "Q95",
    "Q96",
    "P1",
    "N49",
    "Z228",
    "G624",
    "J2",
    "TP3",
    "H31",
]


def make_catalog(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` titles with authors, publishers, call numbers and valid ISBN-13s."""
    rng = random.Random(seed)
    titles = []
    for n in range(count):
        pattern = rng.choice(_PATTERNS)
        name = pattern.format_map(_Picker(rng))
        # Volumes and editions: the same name recurs, as "小王子" does in many editions.
        if rng.random() < 0.15:
            name += rng.choice(("（上）", "（下）", "2", "（注音版）", "（彩图版）"))
        author = rng.choice(_SURNAMES) + "".join(rng.sample(_GIVEN, rng.choice((1, 2))))
        body = f"9787{n:08d}"
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
        titles.append(
            {
                "id": n + 1,
                "isbn13": body + str((10 - total % 10) % 10),
                "title": name,
                "author": author,
                "publisher": rng.choice(_PUBLISHERS),
                "call_number": f"{rng.choice(_CLASSES)}.{rng.randint(1, 99)}/{rng.randint(1, 999)}",
                "classification": "clc",
            }
        )
    return titles


class _Picker(dict[str, str]):
    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        source = {"a": _ADJECTIVES, "n": _NOUNS, "p": _PLACES, "s": _SUBJECTS}[key]
        return self.rng.choice(source)


def make_queries(
    catalog: list[dict[str, Any]], per_kind: int, seed: int = 11
) -> dict[str, list[str]]:
    """Queries as people type them, drawn from the catalogue itself (so common characters come
    up as often as they occur): a character, two or more adjacent ones, the pinyin or the
    initials of a title, an ISBN in one of its forms."""
    rng = random.Random(seed)
    queries: dict[str, list[str]] = {k: [] for k in KINDS}
    while any(len(v) < per_kind for v in queries.values()):
        row = rng.choice(catalog)
        key = compact(row["title"])
        han = "".join(ch for ch in key if "\u4e00" <= ch <= "\u9fff")
        if len(han) >= 1 and len(queries["1 char"]) < per_kind:
            queries["1 char"].append(rng.choice(han))
        if len(han) >= 2 and len(queries["2 chars"]) < per_kind:
            start = rng.randrange(len(han) - 1)
            queries["2 chars"].append(han[start : start + 2])
        if len(han) >= 3 and len(queries["3+ chars"]) < per_kind:
            size = rng.randint(3, min(6, len(han)))
            start = rng.randrange(len(han) - size + 1)
            queries["3+ chars"].append(han[start : start + size])
        keys = pinyin_keys(row["title"])
        if keys.full and len(queries["full pinyin"]) < per_kind:
            queries["full pinyin"].append(keys.full[0])
        if keys.initials and len(queries["initials"]) < per_kind:
            queries["initials"].append(keys.initials[0])
        if len(queries["ISBN"]) < per_kind:
            isbn = row["isbn13"]
            forms = (
                isbn,
                f"{isbn[:3]}-{isbn[3]}-{isbn[4:8]}-{isbn[8:12]}-{isbn[12]}",
                isbn + " 52",
            )
            queries["ISBN"].append(rng.choice(forms))
    return queries


def raw_query(engine: Engine, kind: str) -> Callable[[Any, str], object]:
    """The index query a kind of query starts with, alone: what the engine adds is the rest."""
    postgres = engine.dialect.name == "postgresql"
    fts = (
        text(
            "SELECT title_id FROM title_search WHERE terms_tsv"
            " @@ to_tsquery('simple'::regconfig, :q) LIMIT :k"
        )
        if postgres
        else text("SELECT rowid FROM title_search_fts WHERE title_search_fts MATCH :q LIMIT :k")
    )
    if kind in ("1 char", "2 chars", "3+ chars"):

        def run_fts(session: Any, q: str) -> object:
            wanted = phrase(q)
            assert wanted is not None
            arg = wanted.tsquery() if postgres else wanted.fts5()
            return session.execute(fts, {"q": arg, "k": CANDIDATES_PER_WAY}).all()

        return run_fts
    if kind in ("full pinyin", "initials"):

        def run_pinyin(session: Any, q: str) -> object:
            upper = q[:-1] + chr(ord(q[-1]) + 1)
            return session.execute(
                select(TitlePinyin.title_id)
                .where(TitlePinyin.key >= q, TitlePinyin.key < upper)
                .limit(CANDIDATES_PER_WAY)
            ).all()

        return run_pinyin

    def run_isbn(session: Any, q: str) -> object:
        return session.execute(
            text("SELECT id FROM titles WHERE isbn13 = :q"), {"q": q.split()[0].replace("-", "")}
        ).all()

    return run_isbn


def load(engine: Engine, catalog: list[dict[str, Any]], seed: int = 5) -> tuple[float, float]:
    """Titles and 1 to 3 copies each (a quarter of them lent), then the search index.

    Returns (seconds to write titles and copies, seconds to index them)."""
    rng = random.Random(seed)
    titles = Base.metadata.tables["titles"]
    items = Base.metadata.tables["items"]
    now = dt.datetime.now(dt.UTC)
    copies = []
    for row in catalog:
        for c in range(rng.choice((1, 1, 2, 3))):
            lent = rng.random() < 0.25
            copies.append(
                {
                    "barcode": f"B{row['id']:07d}{c}",
                    "title_id": row["id"],
                    "location": f"{row['call_number'][:1]}区书架",
                    "status": (ItemStatus.ON_LOAN if lent else ItemStatus.AVAILABLE).value,
                    "created_at": now,
                }
            )
    factory = make_session_factory(engine)
    started = time.perf_counter()
    with factory.begin() as session:
        for start in range(0, len(catalog), 5000):
            session.execute(insert(titles), catalog[start : start + 5000])
        for start in range(0, len(copies), 5000):
            session.execute(insert(items), copies[start : start + 5000])
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    ids = [row["id"] for row in catalog]
    for start in range(0, len(ids), 10_000):
        with factory.begin() as session:
            index_titles(session, ids[start : start + 10_000])
    index_s = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    return write_s, index_s


def sqlite_bytes(engine: Engine, tables: tuple[str, ...]) -> int:
    """Bytes the named tables and their indexes take in the SQLite file (dbstat)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT m.tbl_name, sum(s.pgsize) FROM dbstat s JOIN sqlite_master m ON m.name = s.name"
            " GROUP BY m.tbl_name"
        ).all()
    return sum(size for name, size in rows if name.startswith(tables))


def measure(
    label: str,
    engine: Engine,
    catalog: list[dict[str, Any]],
    queries: dict[str, list[str]],
    rounds: int,
) -> dict[str, Any]:
    write_s, index_s = load(engine, catalog)
    print(
        f"{label}: wrote {len(catalog)} titles and their copies in {write_s:.1f} s; "
        f"indexed them for search in {index_s:.1f} s ({len(catalog) / index_s:.0f} titles/s)",
        flush=True,
    )
    figures: dict[str, Any] = {"titles": len(catalog), "index_s": round(index_s, 1)}
    if engine.dialect.name == "sqlite":
        catalog_bytes = sqlite_bytes(engine, ("titles", "items"))
        search_bytes = sqlite_bytes(engine, ("title_search", "title_pinyin"))
        print(
            f"{label}: search index adds {search_bytes / 2**20:.1f} MiB to the database "
            f"(titles and copies take {catalog_bytes / 2**20:.1f} MiB)",
            flush=True,
        )
        figures["search_index_mib"] = round(search_bytes / 2**20, 1)
        figures["catalog_mib"] = round(catalog_bytes / 2**20, 1)
    factory = make_session_factory(engine)
    per_kind: dict[str, Any] = {}
    with factory() as session:
        # Warm-up: pypinyin's dictionaries, the database's cache.
        for kind in KINDS:
            for q in queries[kind][:20]:
                search_titles(session, q, limit=LIMIT)
        for kind in KINDS:
            raw = raw_query(engine, kind)
            engine_ms: list[list[float]] = [[] for _ in range(rounds)]
            raw_ms: list[list[float]] = [[] for _ in range(rounds)]
            found = 0
            for r in range(rounds):
                for q in queries[kind]:
                    started = time.perf_counter()
                    raw(session, q)
                    raw_ms[r].append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    hits = search_titles(session, q, limit=LIMIT)
                    engine_ms[r].append((time.perf_counter() - started) * 1000)
                    found += bool(hits)
            p95 = [_p95(x) for x in engine_ms]
            raw_p95 = [_p95(x) for x in raw_ms]
            all_engine = [t for x in engine_ms for t in x]
            all_raw = [t for x in raw_ms for t in x]
            per_kind[kind] = {
                "engine_p50_ms": round(statistics.median(all_engine), 2),
                "engine_p95_ms": round(statistics.median(p95), 2),
                "engine_p95_spread_ms": [round(min(p95), 2), round(max(p95), 2)],
                "raw_p50_ms": round(statistics.median(all_raw), 2),
                "raw_p95_ms": round(statistics.median(raw_p95), 2),
                "found_share": round(found / (rounds * len(queries[kind])), 3),
            }
            k = per_kind[kind]
            print(
                f"  {kind:<12} engine p50 {k['engine_p50_ms']:6.2f} ms  p95 {k['engine_p95_ms']:6.2f} ms "
                f"(rounds {k['engine_p95_spread_ms'][0]:.2f}–{k['engine_p95_spread_ms'][1]:.2f})   "
                f"raw index query p50 {k['raw_p50_ms']:6.2f} ms  p95 {k['raw_p95_ms']:6.2f} ms   "
                f"found {k['found_share']:.0%}",
                flush=True,
            )
    figures["kinds"] = per_kind
    figures["meets_target"] = all(k["engine_p95_ms"] <= TARGET_P95_MS for k in per_kind.values())
    return figures


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--titles", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    catalog = make_catalog(args.titles)
    queries = make_queries(catalog, args.queries)
    print(
        f"{args.titles} titles; {args.queries} queries per kind, {args.rounds} rounds, "
        f"interleaved with the raw index query; limit {LIMIT}",
        flush=True,
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shuxiang-bench-") as tmp:
        engine = make_engine(Path(tmp) / "kiosk.sqlite3")
        upgrade(engine)
        results["sqlite"] = measure("SQLite", engine, catalog, queries, args.rounds)
        engine.dispose()
    if args.skip_postgres:
        results["postgresql"] = None
    else:
        with running_postgres(fast=False) as server:
            if server is None:
                print(
                    "PostgreSQL: skipped, no PostgreSQL binaries found "
                    "(install them with scripts/system-deps.sh postgres)",
                    flush=True,
                )
                results["postgresql"] = None
            else:
                engine = make_engine(server.create_database())
                upgrade(engine)
                results["postgresql"] = measure("PostgreSQL", engine, catalog, queries, args.rounds)
                engine.dispose()
    summary = {
        "benchmark": "search",
        **results,
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": all(r["meets_target"] for r in results.values() if r),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
