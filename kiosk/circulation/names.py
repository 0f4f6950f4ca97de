"""How the kiosk greets a student: a school's form of address, showing as little of the name as it can."""

from __future__ import annotations

import unicodedata

# Two-character Chinese surnames; every other Chinese surname is one character.
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "令狐",
        "慕容",
        "尉迟",
        "公孙",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "端木",
        "西门",
        "南宫",
        "独孤",
        "呼延",
        "轩辕",
    ]
)

# The separators of transliterated names (迪丽热巴·迪力木拉提): given name first, like English.
NAME_DOTS = "·•・‧"
# What a Chinese school calls a student it addresses by name.
STUDENT_TITLE = "同学"
GREETING_STYLES = ("surname", "full", "given")


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH")


def _clean(full_name: str) -> str:
    """Runs of spaces made single; a name all in Chinese characters loses its spaces (李 华)."""
    parts = full_name.split()
    if parts and all(_is_cjk(ch) for part in parts for ch in part):
        return "".join(parts)
    return " ".join(parts)


def _is_chinese_order(name: str) -> bool:
    """Surname first: written in Chinese characters, with no space and no given-name-first dot."""
    return bool(name) and _is_cjk(name[0]) and " " not in name and not _has_dot(name)


def _has_dot(name: str) -> bool:
    return any(dot in name for dot in NAME_DOTS)


def split_chinese_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a Chinese name written surname first; a one-character name is
    taken as a surname alone, and a compound surname (欧阳) needs a given name after it."""
    surname_len = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:surname_len], name[surname_len:]


def first_name(full_name: str) -> str:
    """The given name alone: 张小明 → 小明, Emily Chen → Emily, 迪丽热巴·迪力木拉提 → 迪丽热巴.

    A name with nothing left after the surname (王) is shown whole.
    """
    name = _clean(full_name)
    if not name:
        return ""
    if _is_chinese_order(name):
        _, given = split_chinese_name(name)
        return given or name
    if _has_dot(name):
        for dot in NAME_DOTS:
            name = name.replace(dot, " ")
        return name.split(" ")[0]
    if "," in name:  # "Chen, Emily"
        name = name.split(",", 1)[1].strip() or name
    return name.split(" ")[0]


def greeting_name(full_name: str, style: str = "surname") -> str:
    """What the screen calls the signed-in student, read by whoever queues behind them.

    Chinese names written surname first, by `style`: "surname" 李华 → 李同学 (欧阳娜娜 →
    欧阳同学), "full" → 李华同学, "given" → 华. Other names (Emily Chen, and transliterated
    names with a dot, given name first) are greeted by their given name alone in every style,
    as an English-speaking school would, with 同学 after a Chinese-script one. An empty name
    gives "".
    """
    if style not in GREETING_STYLES:
        raise ValueError(f"unknown greeting style {style!r}")
    name = _clean(full_name)
    if not name:
        return ""
    if not _is_chinese_order(name):
        given = first_name(name)
        return given + STUDENT_TITLE if _is_cjk(given[0]) and style != "given" else given
    if style == "given":
        return first_name(name)
    if style == "full":
        return name + STUDENT_TITLE
    surname, _ = split_chinese_name(name)
    return surname + STUDENT_TITLE
