"""Compensation amounts by policy, and a case's states, as tables."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from kiosk.circulation.compensation import (
    CASE_TRANSITIONS,
    AmountBasis,
    CaseAction,
    CaseReason,
    CaseStatus,
    CompensationMode,
    CompensationPolicy,
    OnFound,
    assess,
    blocks_at_kiosk,
    case_action_applies,
    case_status_after,
    found_action,
    parse_price_fen,
    parse_yuan,
    yuan_text,
)

PRICE_X15 = CompensationPolicy(
    mode=CompensationMode.PRICE_FACTOR,
    factor=Decimal("1.5"),
    damaged_factor=Decimal("0.3"),
    minimum_fen=1000,
    fixed_fen=3000,
)
FIXED = CompensationPolicy(
    mode=CompensationMode.FIXED, fixed_fen=2000, damaged_factor=Decimal("0.5")
)
REPLACE = CompensationPolicy(
    mode=CompensationMode.REPLACEMENT, factor=Decimal(2), damaged_factor=Decimal("0.5")
)

AMOUNT_CASES = [
    # (name, policy, reason, price_fen, amount_fen, basis)
    ("lost: price × 1.5", PRICE_X15, "lost", 2550, 3825, "price"),
    ("lost: rounds half up to the fen", PRICE_X15, "lost", 2001, 3002, "price"),
    ("lost: cheap book raised to the minimum", PRICE_X15, "lost", 500, 1000, "minimum"),
    ("lost: no price in the catalogue", PRICE_X15, "lost", None, 3000, "no_price"),
    ("lost: a zero price is no price", PRICE_X15, "lost", 0, 3000, "no_price"),
    ("damaged: price × 0.3", PRICE_X15, "damaged", 5000, 1500, "price"),
    ("damaged: at least the minimum", PRICE_X15, "damaged", 2000, 1000, "minimum"),
    ("damaged: no price, fixed × 0.3", PRICE_X15, "damaged", None, 900, "no_price"),
    ("fixed: lost ignores the price", FIXED, "lost", 9900, 2000, "fixed"),
    ("fixed: damaged half", FIXED, "damaged", 9900, 1000, "fixed"),
    ("replacement: lost is the price itself", REPLACE, "lost", 2550, 2550, "price"),
    ("replacement: damaged × 0.5", REPLACE, "damaged", 2550, 1275, "price"),
]


@pytest.mark.parametrize(
    ("policy", "reason", "price_fen", "amount_fen", "basis"),
    [case[1:] for case in AMOUNT_CASES],
    ids=[case[0] for case in AMOUNT_CASES],
)
def test_amount(policy, reason, price_fen, amount_fen, basis):
    assessment = assess(policy, CaseReason(reason), price_fen)
    assert assessment.amount_fen == amount_fen
    assert assessment.basis == AmountBasis(basis)


def test_the_policy_is_described_on_the_case():
    assert assess(PRICE_X15, CaseReason.LOST, 2550).policy_text == (
        "price_factor ×1.5, min ¥10.00, no price ¥30.00"
    )
    assert assess(FIXED, CaseReason.DAMAGED, None).policy_text == "fixed ¥20.00 ×0.5"


# status before, action, status after ("-": the action leaves the case as it is).
CASE_ROWS = """
open      pay           paid
open      waive         waived
open      replace       replaced
open      found_refund  cancelled
open      found_keep    cancelled
paid      pay           -
paid      waive         -
paid      replace       -
paid      found_refund  refunded
paid      found_keep    -
waived    pay           -
waived    waive         -
waived    replace       -
waived    found_refund  -
waived    found_keep    -
replaced  pay           -
replaced  waive         -
replaced  replace       -
replaced  found_refund  -
replaced  found_keep    -
cancelled pay           -
cancelled waive         -
cancelled replace       -
cancelled found_refund  -
cancelled found_keep    -
refunded  pay           -
refunded  waive         -
refunded  replace       -
refunded  found_refund  -
refunded  found_keep    -
"""


def case_rows() -> list[list[str]]:
    return [line.split() for line in CASE_ROWS.strip().splitlines()]


@pytest.mark.parametrize(("before", "action", "after"), case_rows())
def test_case_transition(before, action, after):
    applies = after != "-"
    assert case_action_applies(before, CaseAction(action)) is applies
    if applies:
        assert case_status_after(before, CaseAction(action)) == CaseStatus(after)
    else:
        with pytest.raises(KeyError):
            case_status_after(before, CaseAction(action))


def test_the_rows_cover_every_status_and_action():
    every = set(itertools.product(CaseStatus, CaseAction))
    assert {(CaseStatus(b), CaseAction(a)) for b, a, _ in case_rows()} == every
    assert set(CASE_TRANSITIONS) <= every


def test_a_found_book_follows_the_policy():
    assert found_action(CompensationPolicy(on_found=OnFound.REFUND)) is CaseAction.FOUND_REFUND
    assert found_action(CompensationPolicy(on_found=OnFound.KEEP)) is CaseAction.FOUND_KEEP


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("25", 2500),
        ("25.5", 2550),
        ("¥25.50", 2550),
        ("￥ 3.05 ", 305),
        ("12元", 1200),
        ("0", 0),
        ("25.555", None),
        ("-3", None),
        ("abc", None),
        ("NaN", None),
        ("", None),
    ],
)
def test_parse_yuan(text, fen):
    assert parse_yuan(text) == fen


def test_yuan_text():
    assert [yuan_text(f) for f in (0, 5, 2550, 100000, -250)] == [
        "0.00",
        "0.05",
        "25.50",
        "1000.00",
        "-2.50",
    ]


def test_kiosk_block_only_when_configured_and_a_case_is_open():
    assert blocks_at_kiosk(1, block_at_kiosk=True)
    assert not blocks_at_kiosk(0, block_at_kiosk=True)
    assert not blocks_at_kiosk(2, block_at_kiosk=False)


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("CNY39.80", 3980),
        ("cny12.3", 1230),
        ("¥25", 2500),
        ("25.00元", 2500),
        ("RMB 25.5", 2550),
        ("定价：25.00元", 2500),
        ("18", 1800),
        ("$12.99", None),
        ("USD12", None),
        ("0", None),
        ("二十元", None),
        ("", None),
    ],
)
def test_catalogue_price(text, fen):
    assert parse_price_fen(text) == fen
