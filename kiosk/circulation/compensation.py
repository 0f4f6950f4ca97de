"""Compensation for lost and damaged books (遗失赔偿): the amount a policy asks, and a case's states."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


class CompensationMode(enum.StrEnum):
    """How the amount is worked out."""

    # The copy's price times a factor, never below the minimum (a fixed sum when the price
    # is unknown).
    PRICE_FACTOR = "price_factor"
    # The same sum for every book.
    FIXED = "fixed"
    # The student brings the same book; the amount (the price) is what they pay instead.
    REPLACEMENT = "replacement"


class OnFound(enum.StrEnum):
    """What happens to a settled case when the book turns up."""

    REFUND = "refund"
    KEEP = "keep"


class CaseReason(enum.StrEnum):
    LOST = "lost"
    DAMAGED = "damaged"


class CaseStatus(enum.StrEnum):
    """Where a compensation case is. Stored in central_compensation_cases.status."""

    OPEN = "open"
    PAID = "paid"
    WAIVED = "waived"
    # The student brought the same book instead of paying.
    REPLACED = "replaced"
    # The book turned up before anything was settled: nothing is owed.
    CANCELLED = "cancelled"
    # The book turned up after it was paid for, and the policy gives the money back.
    REFUNDED = "refunded"


class CaseAction(enum.StrEnum):
    PAY = "pay"
    WAIVE = "waive"
    REPLACE = "replace"
    # The book was found (the copy marked found at the desk).
    FOUND_REFUND = "found_refund"
    FOUND_KEEP = "found_keep"


# (status, action) → status after it. Only these apply: a settled case is not settled again,
# and a found book cancels an open case, refunds a paid one when the policy says so, and leaves
# a waived or replaced one as it is (nothing was paid; the replacement book is the library's).
CASE_TRANSITIONS: Mapping[tuple[CaseStatus, CaseAction], CaseStatus] = {
    (CaseStatus.OPEN, CaseAction.PAY): CaseStatus.PAID,
    (CaseStatus.OPEN, CaseAction.WAIVE): CaseStatus.WAIVED,
    (CaseStatus.OPEN, CaseAction.REPLACE): CaseStatus.REPLACED,
    (CaseStatus.OPEN, CaseAction.FOUND_REFUND): CaseStatus.CANCELLED,
    (CaseStatus.OPEN, CaseAction.FOUND_KEEP): CaseStatus.CANCELLED,
    (CaseStatus.PAID, CaseAction.FOUND_REFUND): CaseStatus.REFUNDED,
}

SETTLING_ACTIONS = (CaseAction.PAY, CaseAction.WAIVE, CaseAction.REPLACE)


@dataclass(frozen=True)
class CompensationPolicy:
    """The school's compensation rule ([compensation] in config.toml), amounts in fen."""

    mode: CompensationMode = CompensationMode.PRICE_FACTOR
    # Lost: price times factor; damaged: price times damaged_factor (both then at least minimum_fen).
    factor: Decimal = Decimal(1)
    damaged_factor: Decimal = Decimal("0.5")
    minimum_fen: int = 1000
    # The sum in FIXED mode, and for a book whose price is not known in the other modes.
    fixed_fen: int = 3000
    on_found: OnFound = OnFound.REFUND


class AmountBasis(enum.StrEnum):
    """What an amount was worked out from; the receipt and the case say it in words."""

    PRICE = "price"
    MINIMUM = "minimum"
    FIXED = "fixed"
    # Price factor or replacement mode, but the catalogue has no price for the book.
    NO_PRICE = "no_price"


@dataclass(frozen=True)
class Assessment:
    amount_fen: int
    basis: AmountBasis
    # The policy in a few words, kept on the case: the rule may change later.
    policy_text: str


def assess(policy: CompensationPolicy, reason: CaseReason, price_fen: int | None) -> Assessment:
    """The amount owed for a copy lost or damaged, by `policy`, from its price (None: unknown).

    Order: FIXED mode is the fixed sum (times damaged_factor for a damaged book); otherwise the
    price (times factor, or damaged_factor; in REPLACEMENT mode the price itself for a lost book),
    raised to the minimum; with no known price, the fixed sum (times damaged_factor). Amounts
    round half up to the fen.
    """
    damaged = reason is CaseReason.DAMAGED
    factor = policy.damaged_factor if damaged else policy.factor
    if policy.mode is CompensationMode.REPLACEMENT and not damaged:
        factor = Decimal(1)
    text = describe_policy(policy, reason)
    if policy.mode is CompensationMode.FIXED or price_fen is None or price_fen <= 0:
        base = policy.fixed_fen
        amount = _times(base, policy.damaged_factor) if damaged else base
        basis = AmountBasis.FIXED if policy.mode is CompensationMode.FIXED else AmountBasis.NO_PRICE
        return Assessment(amount, basis, text)
    amount = _times(price_fen, factor)
    if amount < policy.minimum_fen:
        return Assessment(policy.minimum_fen, AmountBasis.MINIMUM, text)
    return Assessment(amount, AmountBasis.PRICE, text)


def _times(fen: int, factor: Decimal) -> int:
    return int((Decimal(fen) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def describe_policy(policy: CompensationPolicy, reason: CaseReason) -> str:
    """The rule in short, as stored on a case (the factor, the minimum, the no-price sum)."""
    factor = policy.damaged_factor if reason is CaseReason.DAMAGED else policy.factor
    if policy.mode is CompensationMode.FIXED:
        extra = f" ×{policy.damaged_factor}" if reason is CaseReason.DAMAGED else ""
        return f"fixed ¥{yuan_text(policy.fixed_fen)}{extra}"
    if policy.mode is CompensationMode.REPLACEMENT and reason is CaseReason.LOST:
        factor = Decimal(1)
    return (
        f"{policy.mode.value} ×{factor}, min ¥{yuan_text(policy.minimum_fen)}, "
        f"no price ¥{yuan_text(policy.fixed_fen)}"
    )


def yuan_text(fen: int) -> str:
    """Fen as yuan with two decimals: 2550 → "25.50"."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def parse_yuan(text: str) -> int | None:
    """A yuan amount typed by a person ("25", "25.5", "¥25.50", "25元") in fen; None if it is
    not one (negative, more than two decimals, not a number)."""
    cleaned = text.strip().removeprefix("¥").removeprefix("￥").removesuffix("元").strip()
    try:
        value = Decimal(cleaned)
    except ArithmeticError:
        return None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        return None
    return int(value * 100)


# A catalogue's price in yuan: "CNY25.00" (CNMARC 010$d, MARC 020$c), "¥25", "25.00元",
# "RMB 25", "定价" with a colon before it, or a bare number; other currencies are not yuan.
_PRICE = re.compile(
    r"^(?:定价[:：]?\s*)?(?:CNY|RMB|¥|￥)?\s*(\d{1,6}(?:\.\d{1,2})?)\s*(?:元|圆)?$", re.IGNORECASE
)


def parse_price_fen(text: str) -> int | None:
    """A catalogue's list price in fen, or None when `text` is empty or not a yuan price."""
    match = _PRICE.match(text.strip())
    if match is None:
        return None
    fen = int(Decimal(match.group(1)) * 100)
    return fen if fen > 0 else None


def case_action_applies(status: str, action: CaseAction) -> bool:
    """Whether `action` moves a case in `status`; otherwise the case is left as it is."""
    return (CaseStatus(status), action) in CASE_TRANSITIONS


def case_status_after(status: str, action: CaseAction) -> CaseStatus:
    """The case's status after `action`; raises KeyError when it does not apply."""
    return CASE_TRANSITIONS[CaseStatus(status), action]


def found_action(policy: CompensationPolicy) -> CaseAction:
    """The action a found book takes on its case under `policy`."""
    return CaseAction.FOUND_REFUND if policy.on_found is OnFound.REFUND else CaseAction.FOUND_KEEP


def blocks_at_kiosk(open_cases: int, *, block_at_kiosk: bool) -> bool:
    """Whether a student with `open_cases` open compensation cases is refused at the kiosk."""
    return block_at_kiosk and open_cases > 0
