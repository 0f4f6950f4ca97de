"""How the kiosk greets a student, for every kind of name and each configured style."""

from __future__ import annotations

import pytest

from kiosk.circulation.names import first_name, greeting_name

GREETINGS = [
    # (full name, "surname", "full", "given")
    ("王", "王同学", "王同学", "王"),
    ("李华", "李同学", "李华同学", "华"),
    ("张小明", "张同学", "张小明同学", "小明"),
    ("欧阳娜娜", "欧阳同学", "欧阳娜娜同学", "娜娜"),
    ("司马光", "司马同学", "司马光同学", "光"),
    ("欧阳", "欧同学", "欧阳同学", "阳"),  # a compound surname needs a given name after it
    ("诸葛亮亮", "诸葛同学", "诸葛亮亮同学", "亮亮"),
    ("  李  华 ", "李同学", "李华同学", "华"),  # stray spaces from a spreadsheet
    ("迪丽热巴·迪力木拉提", "迪丽热巴同学", "迪丽热巴同学", "迪丽热巴"),
    ("Emily Chen", "Emily", "Emily", "Emily"),
    ("Chen, Emily", "Emily", "Emily", "Emily"),
    ("  Tom   Li ", "Tom", "Tom", "Tom"),
    ("Emma", "Emma", "Emma", "Emma"),
    ("", "", "", ""),
]


@pytest.mark.parametrize(("full", "surname", "whole", "given"), GREETINGS)
def test_greeting_name(full, surname, whole, given):
    assert greeting_name(full, "surname") == surname
    assert greeting_name(full, "full") == whole
    assert greeting_name(full, "given") == given


def test_greeting_never_shows_the_given_name_alone_by_default():
    # The complaint: 李华 was greeted by the given name 华 alone.
    assert greeting_name("李华") == "李同学"


def test_unknown_style_is_a_bug():
    with pytest.raises(ValueError, match="greeting style"):
        greeting_name("李华", "nickname")


@pytest.mark.parametrize(
    ("full", "shown"),
    [
        ("张小明", "小明"),
        ("李华", "华"),
        ("欧阳娜娜", "娜娜"),
        ("司马光", "光"),
        ("Emily Chen", "Emily"),
        ("Chen, Emily", "Emily"),
        ("  Tom   Li ", "Tom"),
        ("王", "王"),
        ("", ""),
    ],
)
def test_first_name(full, shown):
    assert first_name(full) == shown
