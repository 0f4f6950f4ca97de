"""Tests for kiosk.circulation.barcodes: what each scanned or typed code is taken to be."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.circulation.barcodes import (
    BarcodeKind,
    BarcodeRules,
    Classified,
    classify,
    is_addon_only,
    isbn_variants,
    to_isbn13,
)

ISBN = BarcodeKind.ISBN
PATRON = BarcodeKind.PATRON
ITEM = BarcodeKind.ITEM
UNKNOWN = BarcodeKind.UNKNOWN

DEFAULT = BarcodeRules()
# Cards and items that can never look like a digits-only ISBN-10, so such a
# code is left to be an ISBN.
LETTERED = BarcodeRules(patron_pattern=r"S\d{7}", item_pattern=r"LIB\d{6}")
LUHN = BarcodeRules(patron_check="luhn", item_pattern=r"LIB\d{6}")
# A card pattern generous enough to swallow every EAN-13.
THIRTEEN = BarcodeRules(patron_pattern=r"\d{13}")
FRAMED = BarcodeRules(prefix="SX", suffix="#")

# Check digits below were verified with stdnum and by hand:
# 9787020002207 = ISBN-10 702000220X; 9780306406157 = ISBN-10 0306406152;
# 7-02-003344-X = 9787020033447; 0889957908 is a valid ISBN-10 that also
# passes Luhn; 0306406152 fails Luhn; 9790060115615 is a valid ISMN-13;
# 6901234567892 is a valid EAN-13 (China, not a book); 79927398713 passes Luhn.
EXAMPLES: list[tuple[str, BarcodeRules, Classified]] = [
    # EAN-13 of real ISBNs, bare, with an add-on, hyphenated.
    ("9787020002207", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    ("9780306406157", DEFAULT, Classified(ISBN, "9780306406157", "ok")),
    ("978030640615751299", DEFAULT, Classified(ISBN, "9780306406157", "ok", "51299")),
    ("9780306406157 51299", DEFAULT, Classified(ISBN, "9780306406157", "ok", "51299")),
    ("9780306406157-51299", DEFAULT, Classified(ISBN, "9780306406157", "ok", "51299")),
    ("978030640615705", DEFAULT, Classified(ISBN, "9780306406157", "ok", "05")),
    ("9780306406157 05", DEFAULT, Classified(ISBN, "9780306406157", "ok", "05")),
    ("978-7-02-000220-7", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    ("978 0 306 40615 7", DEFAULT, Classified(ISBN, "9780306406157", "ok")),
    # Book codes come before cards, even when the card pattern matches too.
    ("9787020002207", THIRTEEN, Classified(ISBN, "9787020002207", "ok")),
    # ISBN-10 forms.
    ("0306406152", LETTERED, Classified(ISBN, "9780306406157", "ok")),
    ("0-306-40615-2", DEFAULT, Classified(ISBN, "9780306406157", "ok")),
    ("7-02-003344-X", DEFAULT, Classified(ISBN, "9787020033447", "ok")),
    ("7-02-003344-x", DEFAULT, Classified(ISBN, "9787020033447", "ok")),
    ("702000220X", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    # A valid ISBN-10 that is also a valid card is a card (documented choice).
    ("0306406152", DEFAULT, Classified(PATRON, "0306406152", "also_isbn10")),
    ("0889957908", LUHN, Classified(PATRON, "0889957908", "also_isbn10")),
    ("0306406152", LUHN, Classified(ISBN, "9780306406157", "ok")),
    (
        "0306406152",
        BarcodeRules(patron_pattern=r"S\d{7}"),
        Classified(ITEM, "0306406152", "also_isbn10"),
    ),
    # Bad check digits: a misread book never signs a student in.
    ("9780306406158", DEFAULT, Classified(UNKNOWN, "9780306406158", "bad_isbn_check_digit")),
    ("9780306406158", THIRTEEN, Classified(UNKNOWN, "9780306406158", "bad_isbn_check_digit")),
    (
        "978030640615851299",
        DEFAULT,
        Classified(UNKNOWN, "978030640615851299", "bad_isbn_check_digit"),
    ),
    (
        "978-7-02-000220-8",
        DEFAULT,
        Classified(UNKNOWN, "978-7-02-000220-8", "bad_isbn_check_digit"),
    ),
    ("7-02-003344-1", DEFAULT, Classified(UNKNOWN, "7-02-003344-1", "bad_isbn_check_digit")),
    ("0306406153", LETTERED, Classified(UNKNOWN, "0306406153", "bad_isbn_check_digit")),
    # ...but a 10-digit code with a bad ISBN-10 check is a card or an item.
    ("0306406153", DEFAULT, Classified(PATRON, "0306406153", "ok")),
    ("0306406153", BarcodeRules(patron_pattern=r"S\d{7}"), Classified(ITEM, "0306406153", "ok")),
    # Sheet music (ISMN, 979-0).
    ("9790060115615", DEFAULT, Classified(UNKNOWN, "9790060115615", "sheet_music")),
    ("979-0-060-11561-5", DEFAULT, Classified(UNKNOWN, "979-0-060-11561-5", "sheet_music")),
    ("9790060115616", DEFAULT, Classified(UNKNOWN, "9790060115616", "bad_isbn_check_digit")),
    # Grocery EANs.
    ("6901234567892", DEFAULT, Classified(UNKNOWN, "6901234567892", "not_a_book_ean")),
    ("690123456789251299", DEFAULT, Classified(UNKNOWN, "690123456789251299", "not_a_book_ean")),
    ("6901234567892", THIRTEEN, Classified(PATRON, "6901234567892", "ok")),
    (
        "6901234567892",
        BarcodeRules(item_pattern=r"\d{13}"),
        Classified(ITEM, "6901234567892", "ok"),
    ),
    ("6901234567893", DEFAULT, Classified(UNKNOWN, "6901234567893", "no_pattern_matched")),
    # Whitespace, CR/LF.
    ("9787020002207\r\n", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    ("\r\n  9787020002207\t", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    ("12345678\r", DEFAULT, Classified(PATRON, "12345678", "ok")),
    # AIM symbology identifiers.
    ("]E09787020002207", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    ("]E3978702000220751299\r\n", DEFAULT, Classified(ISBN, "9787020002207", "ok", "51299")),
    ("]C012345678", DEFAULT, Classified(PATRON, "12345678", "ok")),
    ("]A0AB12345", DEFAULT, Classified(ITEM, "AB12345", "ok")),
    # Configured prefix and suffix, alone and with an AIM id after the prefix.
    ("SX9787020002207#\r\n", FRAMED, Classified(ISBN, "9787020002207", "ok")),
    ("SX]E09787020002207#", FRAMED, Classified(ISBN, "9787020002207", "ok")),
    ("SX12345678#", FRAMED, Classified(PATRON, "12345678", "ok")),
    ("12345678", FRAMED, Classified(PATRON, "12345678", "ok")),
    # Rejections.
    ("", DEFAULT, Classified(UNKNOWN, "", "empty")),
    ("  \r\n", DEFAULT, Classified(UNKNOWN, "", "empty")),
    ("]E0\r\n", DEFAULT, Classified(UNKNOWN, "", "empty")),
    ("SX#", FRAMED, Classified(UNKNOWN, "", "empty")),
    ("12345678\x00", DEFAULT, Classified(UNKNOWN, "12345678\x00", "control_characters")),
    ("1234\x1b5678", DEFAULT, Classified(UNKNOWN, "1234\x1b5678", "control_characters")),
    ("1234\t5678", DEFAULT, Classified(UNKNOWN, "1234\t5678", "control_characters")),
    ("1" * 65, DEFAULT, Classified(UNKNOWN, "1" * 65, "too_long")),
    ("1" * 64, BarcodeRules(item_pattern=r"\d+"), Classified(ITEM, "1" * 64, "ok")),
    ("1" * 9, BarcodeRules(max_length=8), Classified(UNKNOWN, "1" * 9, "too_long")),
    # Luhn cards.
    ("79927398713", LUHN, Classified(PATRON, "79927398713", "ok")),
    ("79927398710", LUHN, Classified(UNKNOWN, "79927398710", "bad_luhn")),
    # Failing Luhn means "not a card", so the item pattern gets its turn.
    ("12345678", BarcodeRules(patron_check="luhn"), Classified(ITEM, "12345678", "ok")),
    ("12345674", BarcodeRules(patron_check="luhn"), Classified(PATRON, "12345674", "ok")),
    # Items: patron wins when both match; patterns are case-sensitive.
    ("AB12345", DEFAULT, Classified(ITEM, "AB12345", "ok")),
    ("LIB123456", LETTERED, Classified(ITEM, "LIB123456", "ok")),
    ("12345678", DEFAULT, Classified(PATRON, "12345678", "ok")),
    ("ab12345", DEFAULT, Classified(UNKNOWN, "ab12345", "no_pattern_matched")),
    # Add-ons that arrived as reads of their own...
    ("51299", LETTERED, Classified(UNKNOWN, "51299", "addon_only")),
    ("05\r\n", DEFAULT, Classified(UNKNOWN, "05", "addon_only")),
    ("]E251299", LETTERED, Classified(UNKNOWN, "51299", "addon_only")),
    # ...unless the item pattern takes them: the example default takes five
    # digits, so a library whose scanners split off add-ons needs a pattern
    # that does not.
    ("51299", DEFAULT, Classified(ITEM, "51299", "ok")),
    # A scanner typing through a full-width input method.
    ("９７８７０２０００２２０７", DEFAULT, Classified(ISBN, "9787020002207", "ok")),
    ("１２３４５６７８", DEFAULT, Classified(PATRON, "12345678", "ok")),
    # Digits of other scripts are not card numbers.
    ("١٢٣٤٥٦٧٨", DEFAULT, Classified(UNKNOWN, "١٢٣٤٥٦٧٨", "no_pattern_matched")),
    ("hello", DEFAULT, Classified(UNKNOWN, "hello", "no_pattern_matched")),
]


@pytest.mark.parametrize(("raw", "rules", "expected"), EXAMPLES)
def test_classify_examples(raw: str, rules: BarcodeRules, expected: Classified) -> None:
    assert classify(raw, rules) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0306406152", "9780306406157"),
        ("0-306-40615-2", "9780306406157"),
        (" 0 306 40615 2\n", "9780306406157"),
        ("702000220X", "9787020002207"),
        ("7-02-000220-x", "9787020002207"),
        ("9787020002207", "9787020002207"),
        ("978-7-02-000220-7", "9787020002207"),
        ("0306406153", None),
        ("9780306406158", None),
        ("9790060115615", None),  # ISMN: sheet music, not a book
        ("6901234567892", None),
        ("030640615", None),  # nine digits are not padded to an ISBN-10
        ("03064061520", None),
        ("", None),
        ("٠٣٠٦٤٠٦١٥٢", None),
    ],
)
def test_to_isbn13(value: str, expected: str | None) -> None:
    assert to_isbn13(value) == expected


@pytest.mark.parametrize(
    ("isbn13", "expected"),
    [
        ("9780306406157", ("9780306406157", "0306406152")),
        ("9787020002207", ("9787020002207", "702000220X")),
        ("9791032300824", ("9791032300824",)),
    ],
)
def test_isbn_variants(isbn13: str, expected: tuple[str, ...]) -> None:
    assert isbn_variants(isbn13) == expected


@pytest.mark.parametrize(
    "bad", ["0306406152", "978-0-306-40615-7", "9780306406158", "9790060115615", ""]
)
def test_isbn_variants_rejects_non_canonical_input(bad: str) -> None:
    with pytest.raises(ValueError, match="canonical ISBN-13"):
        isbn_variants(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("51299", True),
        ("05", True),
        ("51299\r\n", True),
        ("]E151", True),
        ("5", False),
        ("512", False),
        ("5129", False),
        ("512990", False),
        ("9787020002207", False),
        ("", False),
        ("AB", False),
    ],
)
def test_is_addon_only(raw: str, expected: bool) -> None:
    assert is_addon_only(raw) is expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"patron_check": "mod11"}, "patron_check"),
        ({"patron_pattern": "[0-9"}, "patron_pattern"),
        ({"item_pattern": "(A"}, "item_pattern"),
        ({"max_length": 0}, "max_length"),
    ],
)
def test_rules_reject_bad_configuration(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BarcodeRules(**fields)  # type: ignore[arg-type]  # fields vary per case


# --- properties -------------------------------------------------------------

DIGITS = "0123456789"


def ean13_check_digit(first12: str) -> str:
    """EAN-13 check digit, written out here so the tests don't lean on stdnum."""
    total = sum((3 if i % 2 else 1) * int(d) for i, d in enumerate(first12))
    return str(-total % 10)


def isbn10_of(isbn13: str) -> str:
    """ISBN-10 of a 978- ISBN-13, written out here so the tests don't lean on stdnum."""
    body = isbn13[3:12]
    check = -sum((10 - i) * int(d) for i, d in enumerate(body)) % 11
    return body + ("X" if check == 10 else str(check))


def is_valid_isbn10(code: str) -> bool:
    if len(code) != 10 or not code[:9].isascii() or not code[:9].isdigit():
        return False
    return isbn10_of("978" + code[:9] + "0") == code


@st.composite
def isbn13s(draw: st.DrawFn, prefixes: tuple[str, ...] = ("978", "979")) -> str:
    """Valid ISBN-13s; 979 is followed by 1-9 because 979-0 is sheet music."""
    prefix = draw(st.sampled_from(prefixes))
    first = draw(st.sampled_from(DIGITS[1:] if prefix == "979" else DIGITS))
    rest = draw(st.text(DIGITS, min_size=8, max_size=8))
    first12 = prefix + first + rest
    return first12 + ean13_check_digit(first12)


whitespace = st.sampled_from(["", " ", "\r", "\n", "\r\n", "\t", "  \r\n"])
aim_ids = st.one_of(
    st.just(""),
    st.builds(
        "]{}{}".format,
        st.sampled_from(string.ascii_letters),
        st.sampled_from(string.ascii_letters + string.digits),
    ),
)
addons = st.one_of(
    st.none(), st.text(DIGITS, min_size=2, max_size=2), st.text(DIGITS, min_size=5, max_size=5)
)
addon_separators = st.sampled_from(["", " ", "-"])
# Rules under which a scanned ISBN-13 must still be an ISBN: book codes come
# before cards and items, however generous their patterns.
any_rules = st.sampled_from(
    [
        DEFAULT,
        LETTERED,
        LUHN,
        FRAMED,
        THIRTEEN,
        BarcodeRules(patron_pattern=r"\d{8,18}"),
        BarcodeRules(patron_pattern=r"\d{13}", patron_check="luhn"),
        BarcodeRules(item_pattern=r"[0-9 -]+"),
    ]
)


@given(
    raw=st.one_of(
        st.text(),
        st.text(alphabet="0123456789Xx- ]E\r\n\t\x00９"),
        isbn13s().map(lambda code: code + "\x00"),
    ),
    prefix=st.text(max_size=3),
    suffix=st.text(max_size=3),
    patron_check=st.sampled_from(["none", "luhn"]),
    max_length=st.integers(1, 80),
)
def test_classify_never_raises(
    raw: str, prefix: str, suffix: str, patron_check: str, max_length: int
) -> None:
    rules = BarcodeRules(
        prefix=prefix, suffix=suffix, patron_check=patron_check, max_length=max_length
    )
    result = classify(raw, rules)
    assert isinstance(result.kind, BarcodeKind)
    assert result.reason


@given(
    code=isbn13s(),
    addon=addons,
    separator=addon_separators,
    lead=whitespace,
    trail=whitespace,
    aim=aim_ids,
    rules=any_rules,
)
def test_valid_isbn13_is_an_isbn_however_wrapped(
    code: str,
    addon: str | None,
    separator: str,
    lead: str,
    trail: str,
    aim: str,
    rules: BarcodeRules,
) -> None:
    body = code if addon is None else code + separator + addon
    raw = lead + rules.prefix + aim + body + rules.suffix + trail
    assert classify(raw, rules) == Classified(ISBN, code, "ok", addon)


@given(code=isbn13s(prefixes=("978",)), separator=st.sampled_from(["", "-", " "]))
def test_isbn10_form_round_trips(code: str, separator: str) -> None:
    isbn10 = isbn10_of(code)
    spaced = separator.join([isbn10[0], isbn10[1:5], isbn10[5:9], isbn10[9]])
    assert to_isbn13(isbn10) == code
    assert to_isbn13(spaced.lower()) == code
    assert to_isbn13(code) == code
    assert isbn10 in isbn_variants(code)
    assert isbn_variants(code) == (code, isbn10)
    assert classify(spaced, LETTERED) == Classified(ISBN, code, "ok")


@given(code=isbn13s(prefixes=("979",)))
def test_979_isbn_has_no_isbn10(code: str) -> None:
    assert isbn_variants(code) == (code,)


# [0-9], not the brief's \d: Hypothesis draws \d from every script, and a
# card number in Devanagari digits is not a card number (see the examples).
@given(card=st.from_regex(r"[0-9]{8,12}", fullmatch=True))
def test_card_shaped_codes_are_patrons(card: str) -> None:
    result = classify(card, DEFAULT)
    assert result.kind is PATRON
    assert result.value == card
    # A card that happens to be a valid ISBN-10 says so, for a fallback lookup.
    assert result.reason == ("also_isbn10" if is_valid_isbn10(card) else "ok")


@given(
    raw=st.one_of(
        st.builds(
            "{}{}{}".format,
            aim_ids,
            isbn13s(),
            st.one_of(st.just(""), st.text(DIGITS, min_size=5, max_size=5)),
        ),
        isbn13s(prefixes=("978",)).map(isbn10_of),
        st.text(alphabet="0123456789Xx- "),
    ),
    rules=any_rules,
)
def test_classifying_an_isbn_value_again_gives_the_same_value(
    raw: str, rules: BarcodeRules
) -> None:
    first = classify(raw, rules)
    if first.kind is ISBN:
        assert classify(first.value, rules) == Classified(ISBN, first.value, "ok")


@given(st.characters())
def test_control_characters_are_exactly_unicode_category_cc(char):
    """Any character inside a code: refused as a control character iff it is category Cc."""
    result = classify(f"SX0{char}01", DEFAULT)
    assert (result.reason == "control_characters") == (unicodedata.category(char) == "Cc")
