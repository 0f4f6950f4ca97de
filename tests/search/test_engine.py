"""The search engine over a real catalog on SQLite and PostgreSQL: what each query finds first."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from db.models import Title, TitlePinyin, TitleSearch
from kiosk.search.index import index_missing
from kiosk.search.query import CANDIDATES_PER_WAY, search_titles
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding, upsert_entries
from tests.search.conftest import CATALOG, NOW, SearchDB

# query → (title, ISBN or call number) of the expected first result.
FIRST_RESULT = [
    # One character: the exact title beats titles that start with it.
    ("家", ("家", "9787020002207")),
    ("春", ("春", "I246.5/2")),
    # Two characters; a title that starts with the query beats one that contains it.
    ("活着", ("活着", "9787506365437")),
    ("活", ("活着", "9787506365437")),
    ("王子", ("王子与贫儿", "I712.44/1")),
    ("西游", ("西游记", "I242.4/1")),
    ("红", ("红楼梦", "I242.47/1")),
    # Three and more; of two editions, the one with a copy on the shelf comes first.
    ("小王子", ("小王子", "9787544731546")),
    ("《小王子》", ("小王子", "9787544731546")),
    ("疯子在右", ("天才在左疯子在右", "C912.6/1")),
    ("没头脑和不高兴", ("没头脑和不高兴", "I287.5/1")),
    # The title beats a publisher that contains the same words (重庆出版社).
    ("重庆", ("重庆", "K927.19/1")),
    # Authors and publishers.
    ("刘慈欣", ("三体", "9787536692930")),
    ("余", ("活着", "9787506365437")),
    ("作家出版社", ("活着", "9787506365437")),
    # Series and subject headings.
    ("地球往事", ("三体", "9787536692930")),
    ("科幻", ("三体", "9787536692930")),
    ("外星文明", ("三体", "9787536692930")),
    ("魔幻小说", ("哈利·波特与魔法石", "9787020033430")),
    # Pinyin: full, spaced, initials, any case, full-width.
    ("xiaowangzi", ("小王子", "9787544731546")),
    ("xiao wang zi", ("小王子", "9787544731546")),
    ("xwz", ("小王子", "9787544731546")),
    ("XWZ", ("小王子", "9787544731546")),
    ("ｘｉａｏｗａｎｇｚｉ", ("小王子", "9787544731546")),
    ("xiaowang", ("小王子", "9787544731546")),
    ("liucixin", ("三体", "9787536692930")),
    ("hlm", ("红楼梦", "I242.47/1")),
    # Polyphonic characters, read as the phrase dictionary reads them …
    ("changjiang", ("长江", "K928.42/1")),
    ("yinhang", ("银行", "F830/1")),
    ("chongqing", ("重庆", "K927.19/1")),
    ("kuaile", ("快乐", "B821/1")),
    ("yinyue", ("音乐", "J6/1")),
    # … and the other way, as a child who does not know may type them.
    ("zhangjiang", ("长江", "K928.42/1")),
    ("yinxing", ("银行", "F830/1")),
    ("zhongqing", ("重庆", "K927.19/1")),
    # Mixed scripts and full-width Latin letters.
    ("Harry Potter与魔法石", ("Harry Potter与魔法石", "I561.84/1")),
    ("harry pott", ("Harry Potter与魔法石", "I561.84/1")),
    ("ＨＡＲＲＹ", ("Harry Potter与魔法石", "I561.84/1")),
    ("potter", ("Harry Potter与魔法石", "I561.84/1")),
    ("哈利波特", ("哈利·波特与魔法石", "9787020033430")),
    ("魔法石", ("哈利·波特与魔法石", "9787020033430")),
    # ISBN in any form.
    ("9787020002207", ("家", "9787020002207")),
    ("978-7-02-000220-7", ("家", "9787020002207")),
    ("702000220X", ("家", "9787020002207")),
    ("702000220x", ("家", "9787020002207")),
    ("9787020002207 51", ("家", "9787020002207")),
    ("978702000220712345", ("家", "9787020002207")),
    ("ISBN 978-7-5366-9293-0", ("三体", "9787536692930")),
    ("９７８７０２０００２２０７", ("家", "9787020002207")),
    # A 统一书号 however it is typed.
    ("R10024·3001", ("十万个为什么", "Z228.1/1")),
    ("r10024.3001", ("十万个为什么", "Z228.1/1")),
    ("R10024 3001", ("十万个为什么", "Z228.1/1")),
    ("统一书号：R10024·3001", ("十万个为什么", "Z228.1/1")),
    # Call numbers: a class prefix finds the class.
    ("I287", ("没头脑和不高兴", "I287.5/1")),
    ("i287.5", ("没头脑和不高兴", "I287.5/1")),
    ("K928", ("长江", "K928.42/1")),
]


@pytest.mark.parametrize(("query", "expected"), FIRST_RESULT, ids=[q for q, _ in FIRST_RESULT])
def test_first_result(search_db: SearchDB, query: str, expected: tuple[str, str]) -> None:
    with search_db.factory() as session:
        hits = search_titles(session, query, limit=5)
    assert hits, f"{query!r} found nothing"
    assert (hits[0].title, hits[0].title_id) == (expected[0], search_db.ids[expected])


def test_every_title_with_the_query_is_found(search_db: SearchDB) -> None:
    with search_db.factory() as session:
        titles = [h.title for h in search_titles(session, "家", limit=20)]
        by_author = [h.title for h in search_titles(session, "巴金", limit=20)]
    assert titles[:2] == ["家", "家的故事"]
    assert sorted(by_author) == ["家", "春"]


def test_nothing_found(search_db: SearchDB) -> None:
    with search_db.factory() as session:
        assert search_titles(session, "量子力学") == []
        assert search_titles(session, "  ·《》 ") == []
        assert search_titles(session, "9787020002208") == []  # bad check digit


def test_availability_and_location(search_db: SearchDB) -> None:
    with search_db.factory() as session:
        lent, shelved = search_titles(session, "小王子", limit=2)[::-1]
    assert (shelved.copies, shelved.available, shelved.location) == (2, 2, "I区书架")
    assert (lent.copies, lent.available) == (1, 0)
    assert shelved.as_json()["available"] == 2


def test_a_changed_title_is_found_by_its_new_words(search_db: SearchDB) -> None:
    title_id = search_db.ids[("春", "I246.5/2")]
    with search_db.factory.begin() as session:
        session.execute(update(Title).where(Title.id == title_id).values(title="秋"))
        from kiosk.search.index import index_titles

        index_titles(session, [title_id])
    with search_db.factory() as session:
        assert [h.title_id for h in search_titles(session, "秋")] == [title_id]
        assert search_titles(session, "春") == []
        assert [h.title_id for h in search_titles(session, "qiu")][:1] == [title_id]


def test_deleting_a_title_removes_its_search_rows(search_db: SearchDB) -> None:
    title_id = search_db.ids[("快乐", "B821/1")]
    with search_db.factory.begin() as session:
        session.execute(delete(TitleSearch).where(TitleSearch.title_id == title_id))
        session.execute(delete(TitlePinyin).where(TitlePinyin.title_id == title_id))
    with search_db.factory() as session:
        assert search_titles(session, "快乐") == []
    with search_db.factory.begin() as session:
        assert index_missing(session) == 1
    with search_db.factory() as session:
        assert [h.title for h in search_titles(session, "kuaile")] == ["快乐"]
        assert (
            session.scalar(select(TitleSearch.title_key).where(TitleSearch.title_id == title_id))
            == "快乐"
        )


def test_the_whole_pinyin_of_a_long_title(search_db: SearchDB) -> None:
    # 没头脑和不高兴 + 天才在左疯子在右 are short; a long title's key is cut at 48 letters.
    title = "天才在左疯子在右天才在左疯子在右天才在左疯子在右"
    with search_db.factory.begin() as session:
        upsert_entries(
            session, [CatalogEntry(CatalogTitle(title, None, "高铭"), (Holding("L0001"),))], NOW
        )
    with search_db.factory() as session:
        full = "tiancaizaizuofengzizaiyou" * 3
        assert [h.title for h in search_titles(session, full)][:1] == [title]


def test_a_class_prefix_finds_the_whole_class(search_db: SearchDB) -> None:
    with search_db.factory() as session:
        found = sorted(h.call_number for h in search_titles(session, "I24", limit=50))
    assert found == sorted(row[3] for row in CATALOG if row[3].startswith("I24"))


def test_a_broad_prefix_ranks_the_first_titles_in_key_order(search_db: SearchDB) -> None:
    # More titles start with 小 than one way of matching reads (CANDIDATES_PER_WAY), and the
    # shortest comes last in the table: read in key order, 小一 is among the candidates and
    # ranks first; read in the table's order (PostgreSQL's scan), it was never seen.
    long_ones = [f"小星星的故事第{n}集" for n in range(CANDIDATES_PER_WAY + 50)]
    with search_db.factory.begin() as session:
        upsert_entries(
            session,
            [
                CatalogEntry(CatalogTitle(title, None, "王小明"), (Holding(f"X{n:05d}"),))
                for n, title in enumerate([*long_ones, "小一"])
            ],
            NOW,
        )
    # Statistics as a district database has them (autovacuum): most titles are in the range,
    # so without an order PostgreSQL would rather scan the table than the index.
    with search_db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE title_search")
        conn.commit()
    with search_db.factory() as session:
        first = [h.title for h in search_titles(session, "小", limit=5)]
        again = [h.title for h in search_titles(session, "小", limit=5)]
    assert first[0] == "小一"
    assert again == first
