"""Tell what a scanned or typed code is: a patron card, a book's ISBN, a library item, or none."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

# python-stdnum does only pure check-digit arithmetic, so it is allowed in the
# domain layer by decision. It ships py.typed from 2.0.2 on, so mypy needs no
# ignore here.
from stdnum import ean, isbn, luhn


class BarcodeKind(StrEnum):
    """What a code names; UNKNOWN means the kiosk should not act on it."""

    PATRON = "patron"
    ISBN = "isbn"
    ITEM = "item"
    UNKNOWN = "unknown"


_PATRON_CHECKS = ("none", "luhn")


@dataclass(frozen=True)
class BarcodeRules:
    """This library's code formats, as configured.

    Patterns are full-match regular expressions, matched case-sensitively
    against the cleaned text as it is (no case folding), with ASCII semantics:
    `\\d` means 0-9 only, because a barcode carries ASCII and a "digit" from
    another script is never a card number. Construction raises ValueError for
    a bad pattern, an unknown `patron_check` or a non-positive `max_length`,
    so a configuration mistake shows up at start-up, not on the first scan.
    """

    patron_pattern: str = r"\d{8,12}"
    patron_check: str = "none"
    item_pattern: str = r"[A-Z]{0,3}\d{5,10}"
    prefix: str = ""
    suffix: str = ""
    max_length: int = 64

    def __post_init__(self) -> None:
        if self.patron_check not in _PATRON_CHECKS:
            msg = f"patron_check must be one of {_PATRON_CHECKS}, not {self.patron_check!r}"
            raise ValueError(msg)
        if self.max_length < 1:
            msg = f"max_length must be at least 1, not {self.max_length}"
            raise ValueError(msg)
        for field, pattern in (
            ("patron_pattern", self.patron_pattern),
            ("item_pattern", self.item_pattern),
        ):
            try:
                _compile(pattern)
            except re.error as exc:
                msg = f"{field} is not a valid regular expression: {exc}"
                raise ValueError(msg) from exc


@dataclass(frozen=True)
class Classified:
    """The outcome of `classify`.

    `value` is normalised: for ISBN the canonical ISBN-13 digits (no hyphens);
    for every other kind the cleaned text (for UNKNOWN it may be "").
    `reason` is a machine-readable code for the screen to word:
    "ok"; "also_isbn10" (PATRON or ITEM that is also a valid ISBN-10, so a
    service that finds no such card or item may try it as an ISBN);
    and for UNKNOWN: "empty", "too_long", "control_characters",
    "bad_isbn_check_digit", "sheet_music", "bad_luhn", "not_a_book_ean",
    "addon_only", "no_pattern_matched".
    `addon` is the 2- or 5-digit EAN add-on (a price code) dropped from an
    ISBN read, if there was one.
    """

    kind: BarcodeKind
    value: str
    reason: str
    addon: str | None = None


# Scanners let the symbology identifier be switched on; it tells us nothing we
# use, so it is dropped. The modifier is a digit or a letter (]E0, ]C1, ]Q3).
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")

# A keyboard-wedge scanner typing into a Chinese input method in full-width
# mode delivers U+FF19 U+FF17 U+FF18 for "978"; folding that block back to
# ASCII keeps such scans usable. Only that block is folded, nothing else.
_FULL_WIDTH_TO_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}

# [0-9], not \d: \d also matches digits of other scripts.
_EAN_WITH_ADDON = re.compile(r"([0-9]{13})(?:[ -]?([0-9]{5}|[0-9]{2}))?")
_SEPARATED_13 = re.compile(r"[0-9](?:[- ]?[0-9]){12}")
_SEPARATED_ISBN10 = re.compile(r"[0-9](?:[- ]?[0-9]){8}[- ]?[0-9Xx]")
# Unicode category Cc is exactly C0, DEL and C1.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
_ADDON_ONLY = re.compile(r"[0-9]{2}|[0-9]{5}")
_COMPACT_ISBN10 = re.compile(r"[0-9]{9}[0-9X]")
_COMPACT_13 = re.compile(r"[0-9]{13}")
_BOOKLAND = ("978", "979")
_ISMN_PREFIX = "9790"


@functools.lru_cache(maxsize=32)
def _compile(pattern: str) -> re.Pattern[str]:
    # Cached on the pattern string: classify runs on every scan, and the few
    # configured patterns never change while the kiosk runs.
    return re.compile(pattern, re.ASCII)


def _strip_aim_id(text: str) -> str:
    if _AIM_ID.match(text):
        return text[3:].strip()
    return text


def _clean(raw: str, rules: BarcodeRules) -> str:
    text = raw.translate(_FULL_WIDTH_TO_ASCII).strip()
    text = text.removeprefix(rules.prefix).removesuffix(rules.suffix).strip()
    return _strip_aim_id(text)


def _unknown(text: str, reason: str) -> Classified:
    return Classified(BarcodeKind.UNKNOWN, text, reason)


def _is_patron(text: str, rules: BarcodeRules) -> bool:
    """Whether `text` is a card number: pattern and, if configured, Luhn."""
    if not _compile(rules.patron_pattern).fullmatch(text):
        return False
    return rules.patron_check != "luhn" or luhn.is_valid(text)


def _is_item(text: str, rules: BarcodeRules) -> bool:
    return _compile(rules.item_pattern).fullmatch(text) is not None


def _bookland(text: str, ean13: str, addon: str | None) -> Classified:
    """Classify a 13-digit 978/979 code: a book, sheet music or a misread."""
    # The check digit comes first: a misread tells us nothing about what was
    # scanned, and "scan it again" is the right answer to it.
    if not ean.is_valid(ean13):
        return _unknown(text, "bad_isbn_check_digit")
    if ean13.startswith(_ISMN_PREFIX):
        return _unknown(text, "sheet_music")
    return Classified(BarcodeKind.ISBN, ean13, "ok", addon)


def _classify_book(text: str, rules: BarcodeRules) -> Classified | None:
    """Classify `text` if it is shaped like a book code; None lets it fall through."""
    match = _EAN_WITH_ADDON.fullmatch(text)
    if match is not None:
        ean13, addon = match.group(1), match.group(2)
        if ean13.startswith(_BOOKLAND):
            return _bookland(text, ean13, addon)
        return None
    if _SEPARATED_13.fullmatch(text):
        digits = text.replace("-", "").replace(" ", "")
        if digits.startswith(_BOOKLAND):
            return _bookland(text, digits, None)
        return None
    if _SEPARATED_ISBN10.fullmatch(text):
        compact = text.replace("-", "").replace(" ", "").upper()
        if isbn.is_valid(compact):
            # Books carry their ISBN-10 as an EAN-13 barcode, never as a
            # 10-digit one, while cards are scanned all day; and about one
            # digits-only number in eleven passes the ISBN-10 check by chance.
            # So a code that is also a valid card or item is taken as that.
            if _is_patron(text, rules):
                return Classified(BarcodeKind.PATRON, text, "also_isbn10")
            if _is_item(text, rules):
                return Classified(BarcodeKind.ITEM, text, "also_isbn10")
            return Classified(BarcodeKind.ISBN, isbn.to_isbn13(compact), "ok")
        if _compile(rules.patron_pattern).fullmatch(text) or _is_item(text, rules):
            return None
        return _unknown(text, "bad_isbn_check_digit")
    return None


def classify(raw: str, rules: BarcodeRules) -> Classified:
    """Classify one scan or keypad entry; never raises.

    The steps run in this order, and the first that decides wins:

    1. Clean: fold full-width ASCII forms to ASCII; strip surrounding
       whitespace (CR/LF too); strip the configured prefix and suffix when
       present; strip an AIM symbology identifier ("]E0", "]C0", ...).
    2. Reject: "" is UNKNOWN "empty"; longer than `max_length` is "too_long";
       any control character left is "control_characters".
    3. Book codes, before cards, because a 13-digit ISBN can also match a
       generous card pattern and a misread book must never sign a student in:
       - 13 digits starting 978/979, optionally followed by a 2- or 5-digit
         add-on (directly, or after one space or hyphen), or 13 digits
         starting 978/979 with hyphens or spaces between them: a bad check
         digit is "bad_isbn_check_digit", 979-0 (ISMN) is "sheet_music",
         otherwise ISBN with the add-on kept in `addon`. Other 13-digit EANs
         fall through to the steps below.
       - An ISBN-10 (9 digits and a digit or X, hyphens or spaces allowed).
         If valid, it is PATRON when it is also a valid card (step 4), else
         ITEM when it also matches the item pattern, both with reason
         "also_isbn10"; otherwise ISBN (as ISBN-13). Books carry EAN-13
         barcodes, so a scanned 10-digit code is nearly always a card, and
         with no card check one in eleven card numbers is a valid ISBN-10.
         If its check digit is bad, it falls through when it matches the
         patron or item pattern, else it is "bad_isbn_check_digit".
    4. PATRON: full match of `patron_pattern` and, when `patron_check` is
       "luhn", a passing Luhn check over the whole text.
    5. ITEM: full match of `item_pattern`, as typed (no case folding).
    6. Leftovers, all UNKNOWN: matched the patron pattern but failed Luhn is
       "bad_luhn"; a valid EAN-13 (optionally with add-on) is
       "not_a_book_ean"; a lone 2- or 5-digit read is "addon_only" (cheap
       scanners send the add-on as a read of its own; ignore it quietly);
       anything else is "no_pattern_matched".

    The AIM identifier is dropped, never used to decide: schools print cards
    in whatever symbology their card vendor chose, EAN-13 included.
    """
    text = _clean(raw, rules)
    if not text:
        return _unknown(text, "empty")
    if len(text) > rules.max_length:
        return _unknown(text, "too_long")
    if _CONTROL_CHARACTER.search(text):
        return _unknown(text, "control_characters")

    book = _classify_book(text, rules)
    if book is not None:
        return book
    if _is_patron(text, rules):
        return Classified(BarcodeKind.PATRON, text, "ok")
    if _is_item(text, rules):
        return Classified(BarcodeKind.ITEM, text, "ok")

    if _compile(rules.patron_pattern).fullmatch(text):
        return _unknown(text, "bad_luhn")
    match = _EAN_WITH_ADDON.fullmatch(text)
    if match is not None and ean.is_valid(match.group(1)):
        return _unknown(text, "not_a_book_ean")
    if _ADDON_ONLY.fullmatch(text):
        return _unknown(text, "addon_only")
    return _unknown(text, "no_pattern_matched")


def to_isbn13(value: str) -> str | None:
    """Return the ISBN-13 digits of an ISBN-10 or ISBN-13, else None.

    Hyphens and spaces inside are allowed and surrounding whitespace is
    ignored; an ISBN-10 may end in X or x. ISMNs (979-0) are sheet music,
    not books, and give None, as does anything with a bad check digit.
    """
    compact = value.strip().replace("-", "").replace(" ", "").upper()
    # Once the pattern has made `compact` plain ASCII, the check digits are computed directly
    # (the EAN-13 one by stdnum): stdnum's isbn.is_valid and isbn.to_isbn13 first clean the
    # text character by character, and a catalog import checks an ISBN for every title.
    if _COMPACT_ISBN10.fullmatch(compact) and _isbn10_check_digit(compact[:9]) == compact[9]:
        body = "978" + compact[:9]
        return body + ean.calc_check_digit(body)
    if (
        _COMPACT_13.fullmatch(compact)
        and compact.startswith(_BOOKLAND)
        and not compact.startswith(_ISMN_PREFIX)
        and ean.calc_check_digit(compact[:12]) == compact[12]
    ):
        return compact
    return None


def _isbn10_check_digit(body: str) -> str:
    """The check digit of the nine ASCII digits `body` of an ISBN-10 ("X" stands for 10).

    The formula of stdnum's private isbn._calc_isbn10_check_digit.
    """
    check = sum((i + 1) * int(d) for i, d in enumerate(body)) % 11
    return "X" if check == 10 else str(check)


def isbn_variants(isbn13: str) -> tuple[str, ...]:
    """Return the digit-only forms a catalog may hold for the book `isbn13` names.

    That is `isbn13` itself and, for 978- ISBNs, the ISBN-10 (with an
    uppercase X check where it has one); 979- ISBNs have no ISBN-10.
    `isbn13` must be canonical ISBN-13 digits, as in `Classified.value` for
    an ISBN; anything else is a caller bug and raises ValueError.
    """
    if to_isbn13(isbn13) != isbn13:
        msg = "isbn_variants needs canonical ISBN-13 digits"
        raise ValueError(msg)
    if isbn13.startswith("978"):
        return (isbn13, isbn.to_isbn10(isbn13))
    return (isbn13,)


# A 统一书号 (unified book number, printed on Chinese books before ISBNs, to 1987): a class
# number, a dot, the publisher's serial; written "10019·3152" with a middle dot, often typed
# with a full stop or another dot.
_UNIFIED_NUMBER = re.compile(
    r"\s*(?:统一书号\s*[:：]?\s*)?([A-Z]?\d{3,6})\s*[·・．•‧.]\s*(\d{1,6})(?![\d.·])"
)


def to_unified_number(value: str) -> str | None:
    """The 统一书号 in `value` written the one way ("10019·3152"), or None when there is none."""
    match = _UNIFIED_NUMBER.match(value)
    return f"{match.group(1)}·{match.group(2)}" if match else None


def is_addon_only(raw: str) -> bool:
    """Whether `raw` is a lone 2- or 5-digit read: an EAN add-on scanned on its own.

    Looks at shape only (after stripping whitespace and an AIM identifier);
    it knows no configured patterns, so a short item code of the same shape
    is for `classify` to tell apart.
    """
    text = _strip_aim_id(raw.translate(_FULL_WIDTH_TO_ASCII).strip())
    return _ADDON_ONLY.fullmatch(text) is not None
