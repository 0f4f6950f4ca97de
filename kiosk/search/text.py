"""Pure text rules of the search: normalisation, index tokens, pinyin keys, ISBN and call-number shapes."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from kiosk.circulation.barcodes import to_isbn13, to_unified_number

# Stands between the fields of one title in the token text, so that a phrase never runs from
# the end of the title into the author. It is the token of U+0000, which no text contains.
FIELD_SEPARATOR = "u0"

# Readings kept per field: the phrase reading first, then single-character alternatives.
# Bounded because a title full of polyphonic characters would otherwise multiply its keys.
MAX_PINYIN_READINGS = 6
# Pinyin keys are prefixes a person types; longer keys add size and no findability.
MAX_PINYIN_KEY_CHARS = 48

_ISBN_LABEL = re.compile(r"^isbn[:：]?", re.IGNORECASE)
_ISBN_SHAPE = re.compile(r"[0-9][0-9\- ]{8,22}[0-9x]", re.IGNORECASE)
# A CLC (中图法) call number starts with its class: one or two capital letters and digits,
# e.g. "I287.45/12", "TP312"; typed in any case.
_CALL_NUMBER_SHAPE = re.compile(r"[a-z]{1,2}[0-9]")
# CJK Unified Ideographs (with Extension A and the compatibility block), and Latin words.
_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{_HAN_CLASS}]")
_RUNS = re.compile(f"[{_HAN_CLASS}]+|[a-z0-9]+")
# Latin letters only: a pinyin syllable as pypinyin writes it (ü as v), or a pinyin query.
_SYLLABLE = re.compile(r"[a-z]+")


def normalize(text: str) -> str:
    """`text` in the one form the search compares: NFKC (full-width → half-width), case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def compact(text: str) -> str:
    """The letters and digits of `text`, normalised: what exact and prefix matches compare.

    Spaces and punctuation go, so "《小王子》", "小 王子" and "小王子" are the same key.
    """
    return "".join(ch for ch in normalize(text) if ch.isalnum())


def tokens(text: str) -> list[str]:
    """The index tokens of `text`: runs of ASCII letters and digits as words, every other
    letter or digit (a Chinese character, an accented letter) as a token of its own.

    Other characters are spelled "u" + hex code point, so the tokens are plain ASCII words:
    SQLite's unicode61 tokenizer and PostgreSQL's parser split them identically in every
    locale, and a one-character query is a one-token query.
    """
    out: list[str] = []
    word: list[str] = []
    for ch in normalize(text):
        if ch.isascii() and ch.isalnum():
            word.append(ch)
            continue
        if word:
            out.append("".join(word))
            word = []
        if ch.isalnum():
            out.append(f"u{ord(ch):x}")
    if word:
        out.append("".join(word))
    return out


def token_text(fields: Iterable[str]) -> str:
    """The text the full-text index holds for a title: each field's tokens, fields kept apart."""
    per_field = (_field_tokens(f) for f in fields)
    return f" {FIELD_SEPARATOR} ".join(t for t in per_field if t)


# Catalogues repeat their authors, publishers, series and subjects: an import works out the
# tokens of each distinct text once.
@functools.lru_cache(maxsize=65_536)
def _field_tokens(text: str) -> str:
    return " ".join(tokens(text))


@dataclass(frozen=True)
class Phrase:
    """A query as index tokens; `prefix` when its last token is a word still being typed."""

    words: tuple[str, ...]
    prefix: bool

    def fts5(self) -> str:
        """The phrase in SQLite FTS5 query syntax."""
        return '"' + " ".join(self.words) + '"' + (" *" if self.prefix else "")

    def tsquery(self) -> str:
        """The phrase in PostgreSQL to_tsquery syntax (the tokens are plain ASCII words)."""
        parts = list(self.words)
        if self.prefix:
            parts[-1] += ":*"
        return " <-> ".join(parts)


def phrase(query: str) -> Phrase | None:
    """The phrase to look up for `query`, or None when it has no letters or digits.

    The last token is a prefix when it is an ASCII word and the query does not end in a
    space: "harry pott" finds "Harry Potter" as it is typed.
    """
    words = tokens(query)
    if not words:
        return None
    # Ending in an ASCII letter or digit means the last token is a word still being typed; a
    # Chinese character, a space or punctuation at the end means it is complete.
    last = normalize(query)[-1:]
    return Phrase(tuple(words), last.isascii() and last.isalnum())


def query_isbn13(query: str) -> str | None:
    """The ISBN-13 a query names, in any form: ISBN-10, EAN-13 with or without a 2- or
    5-digit add-on, hyphens or spaces, an "ISBN" label; None when it names none."""
    text = _ISBN_LABEL.sub("", normalize(query).strip()).strip()
    if not _ISBN_SHAPE.fullmatch(text):
        return None
    isbn13 = to_isbn13(text)
    if isbn13 is not None:
        return isbn13
    digits = text.replace("-", "").replace(" ", "")
    if len(digits) in (15, 18) and digits.isdigit():
        return to_isbn13(digits[:13])
    return None


def query_unified_number(query: str) -> str | None:
    """The 统一书号 a query names ("10019·3152", "10019.3152" or "10019 3152"), or None."""
    text = unicodedata.normalize("NFKC", query).strip().upper()
    return to_unified_number(text) or to_unified_number(re.sub(r"\s+", "·", text))


def looks_like_call_number(key: str) -> bool:
    """Whether a compact query key could be the start of a CLC call number ("i287")."""
    return _CALL_NUMBER_SHAPE.match(key) is not None


def call_number_key(call_number: str) -> str:
    """A call number as the prefix search compares it: normalised, without spaces.

    Dots and slashes stay, "I287.4" must not match "I2874".
    """
    return "".join(normalize(call_number).split())


def is_pinyin_query(key: str) -> bool:
    """Whether a compact query key is all Latin letters, so it may be pinyin or initials."""
    return _SYLLABLE.fullmatch(key) is not None


# --- pinyin ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinyinKeys:
    """A field's pinyin as typed: full ("xiaowangzi") and initials ("xwz"), one per reading."""

    full: tuple[str, ...]
    initials: tuple[str, ...]


# Catalogues repeat authors, series and publishers: a field seen before costs a look-up.
@functools.lru_cache(maxsize=65_536)
def pinyin_keys(text: str) -> PinyinKeys:
    """Every pinyin key of `text` a person may type, the likeliest reading first.

    The first reading comes from pypinyin's phrase dictionary (长江 "changjiang", 银行
    "yinhang", 重庆 "chongqing"); then, for each polyphonic character, the text with that one
    character read another way (长 as "zhang"), up to MAX_PINYIN_READINGS. Latin letters and
    digits stay as they are; a Latin word gives its first letter to the initials.
    """
    chunks = _pinyin_chunks(text)
    if not chunks:
        return PinyinKeys((), ())
    readings = [[options[0] for options in chunks]]
    for position, options in enumerate(chunks):
        for alternative in options[1:]:
            if len(readings) >= MAX_PINYIN_READINGS:
                break
            variant = list(readings[0])
            variant[position] = alternative
            readings.append(variant)
    full = _unique("".join(r)[:MAX_PINYIN_KEY_CHARS] for r in readings)
    initials = _unique("".join(s[:1] for s in r)[:MAX_PINYIN_KEY_CHARS] for r in readings)
    return PinyinKeys(full, initials)


def _pinyin_chunks(text: str) -> list[tuple[str, ...]]:
    """Per Han character or Latin word of `text`: its readings, the phrase reading first."""
    chunks: list[tuple[str, ...]] = []
    for run in _RUNS.findall(normalize(text)):
        if _HAN.match(run):
            chunks += _han_chunks(run)
        else:
            chunks.append((run,))
    return chunks


@functools.lru_cache(maxsize=65_536)
def _han_chunks(run: str) -> tuple[tuple[str, ...], ...]:
    """Per character of a run of Han characters: its readings, the phrase reading first (none
    for a character pypinyin does not know)."""
    chunks = (
        _unique((first, *_char_readings(ch)))
        for ch, first in zip(run, _phrase_reading(run), strict=True)
    )
    return tuple(readings for readings in chunks if readings)


# Catalogues repeat their words (authors, series, 出版社) and every title draws on a few
# thousand characters: pypinyin's conversion is the bulk of indexing, and these caches
# make it a dictionary look-up for most of a catalogue.
@functools.lru_cache(maxsize=65_536)
def _phrase_reading(run: str) -> tuple[str, ...]:
    """One reading per character of a run of Han characters, from the phrase dictionary.

    银行 reads yin hang; a character pypinyin does not know reads as "" (no key letters).
    """
    # pypinyin loads its dictionaries on first use (~0.1 s, tens of MB); only indexing and
    # pinyin queries need them, so the import waits until then.
    from pypinyin import Style, lazy_pinyin

    readings = lazy_pinyin(run, style=Style.NORMAL)
    if len(readings) != len(run):
        readings = [lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in run]
    return tuple(r if _SYLLABLE.fullmatch(r) else "" for r in readings)


@functools.lru_cache(maxsize=65_536)
def _char_readings(ch: str) -> tuple[str, ...]:
    """Every reading pypinyin knows for one character (长: chang, zhang)."""
    from pypinyin import Style, pinyin

    return tuple(
        r for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0] if _SYLLABLE.fullmatch(r)
    )


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(v for v in dict.fromkeys(values) if v)
