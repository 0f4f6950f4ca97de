"""Pure text rules of the search: tokens, pinyin keys, ISBN shapes, class names."""

from __future__ import annotations

import pytest

from kiosk.search.text import compact, phrase, pinyin_keys, query_isbn13, tokens


def test_full_width_and_case_fold_to_one_form() -> None:
    assert compact("ＨＡＲＲＹ Ｐｏｔｔｅｒ与魔法石") == compact("harry potter与魔法石")
    assert tokens("Harry Potter与魔法石") == ["harry", "potter", "u4e0e", "u9b54", "u6cd5", "u77f3"]
    assert compact("《小王子》") == "小王子"


def test_a_phrase_still_being_typed_ends_in_a_prefix() -> None:
    typing = phrase("harry pott")
    assert typing is not None and typing.prefix and typing.fts5() == '"harry pott" *'
    assert typing.tsquery() == "harry <-> pott:*"
    chinese = phrase("小王子")
    assert chinese is not None and not chinese.prefix
    assert chinese.tsquery() == "u5c0f <-> u738b <-> u5b50"
    assert phrase(" 《》 ") is None
    ugly = phrase("the ugly")
    assert ugly is not None and ugly.prefix and ugly.words == ("the", "ugly")
    done = phrase("harry ")
    assert done is not None and not done.prefix


@pytest.mark.parametrize(
    ("title", "first_full", "also"),
    [
        ("长江", "changjiang", "zhangjiang"),
        ("银行", "yinhang", "yinxing"),
        ("重庆", "chongqing", "zhongqing"),
        ("快乐", "kuaile", "kuaiyue"),
        ("音乐", "yinyue", "yinle"),
        ("行长", "hangzhang", None),
        ("绿野仙踪", "lvyexianzong", None),
    ],
)
def test_pinyin_reads_phrases_first_and_keeps_other_readings(
    title: str, first_full: str, also: str | None
) -> None:
    keys = pinyin_keys(title)
    assert keys.full[0] == first_full
    assert keys.initials[0] == "".join(s[0] for s in _syllables(title, first_full))
    if also is not None:
        assert also in keys.full


def _syllables(title: str, full: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(title, style=Style.NORMAL)
    assert "".join(syllables).replace("ü", "v") == full
    return syllables


def test_latin_words_keep_their_letters_in_pinyin_keys() -> None:
    keys = pinyin_keys("Harry Potter与魔法石")
    assert keys.full[0] == "harrypotteryumofashi"
    assert keys.initials[0] == "hpymfs"


@pytest.mark.parametrize(
    "query",
    [
        "9787020002207",
        "978-7-02-000220-7",
        "978 7 02 000220 7",
        "702000220X",
        "702000220x",
        "9787020002207 51",
        "978702000220712345",
        "ISBN 978-7-02-000220-7",
        "９７８７０２０００２２０７",
    ],
)
def test_isbn_in_any_form(query: str) -> None:
    assert query_isbn13(query) == "9787020002207"


@pytest.mark.parametrize("query", ["9787020002208", "978702000220", "I287", "小王子", "12345"])
def test_not_an_isbn(query: str) -> None:
    assert query_isbn13(query) is None
