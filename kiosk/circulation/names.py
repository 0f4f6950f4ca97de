"""How much of a student's name the kiosk may show: the given name only."""

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


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH")


def first_name(full_name: str) -> str:
    """The part of `full_name` a kiosk screen may show to the queue behind the student.

    Chinese names are written surname first (张小明 → 小明); other names given name first
    (Emily Chen → Emily). A one-character remainder is still shown alone.
    """
    name = " ".join(full_name.split())
    if not name:
        return ""
    if _is_cjk(name[0]) and " " not in name:
        surname_len = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
        return name[surname_len:] if len(name) > surname_len else name
    if "," in name:  # "Chen, Emily"
        name = name.split(",", 1)[1].strip() or name
    return name.split(" ")[0]
