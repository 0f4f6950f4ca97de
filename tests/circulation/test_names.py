"""Only the given name of a student is ever shown on the kiosk."""

from __future__ import annotations

import pytest

from kiosk.circulation.names import first_name


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
