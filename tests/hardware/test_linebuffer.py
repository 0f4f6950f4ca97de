"""Tests for LineBuffer: terminators, split reads, overlong lines and odd bytes."""

from __future__ import annotations

import logging
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.linebuffer import LineBuffer


def feed_all(buffer: LineBuffer, chunks: list[bytes]) -> list[str]:
    lines: list[str] = []
    for chunk in chunks:
        lines.extend(buffer.feed(chunk))
    return lines


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"9787020002207\r"], ["9787020002207"], id="CR"),
        pytest.param([b"9787020002207\n"], ["9787020002207"], id="LF"),
        pytest.param([b"9787020002207\r\n"], ["9787020002207"], id="CRLF"),
        pytest.param([b"A1\rB2\nC3\r\nD4\r"], ["A1", "B2", "C3", "D4"], id="mixed-in-one-read"),
        pytest.param([b"A1\r", b"\nB2\r", b"\n"], ["A1", "B2"], id="CRLF-split-across-feeds"),
        pytest.param([b"9787", b"0200", b"02207", b"\r"], ["9787020002207"], id="partial-reads"),
        pytest.param([b"\r\n\r\n\n\rA1\r\r\n\n"], ["A1"], id="blank-lines-dropped"),
        pytest.param([b"", b"A1", b"", b"\r"], ["A1"], id="empty-feeds"),
        pytest.param([b" \r"], [" "], id="whitespace-is-not-empty"),
        pytest.param([b"S\x1d12\x04\r"], ["S\x1d12\x04"], id="control-chars-kept"),
        pytest.param([b"\xff\xfeAB\xc3\r"], ["\ufffd\ufffdAB\ufffd"], id="invalid-utf8-replaced"),
        pytest.param([b"\xe4\xb9", b"\xa6\r"], ["书"], id="utf8-split-across-feeds"),
    ],
)
@pytest.mark.parametrize("terminator", ["CR", "LF", "CRLF"])
def test_lines(terminator: str, chunks: list[bytes], expected: list[str]) -> None:
    assert feed_all(LineBuffer(terminator), chunks) == expected


@pytest.mark.parametrize("terminator", ["CR", "LF", "CRLF"])
def test_byte_at_a_time(terminator: str) -> None:
    stream = b"9787020002207\r\nP0001234\rX\n"
    buffer = LineBuffer(terminator)
    assert feed_all(buffer, [bytes([b]) for b in stream]) == ["9787020002207", "P0001234", "X"]
    assert buffer.pending == b""


def test_pending_and_clear() -> None:
    buffer = LineBuffer()
    assert buffer.feed(b"A1\rP00") == ["A1"]
    assert buffer.pending == b"P00"
    buffer.clear()
    assert buffer.pending == b""
    assert buffer.feed(b"B2\r") == ["B2"]


def test_overlong_line_is_discarded_and_logged_by_length_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buffer = LineBuffer(max_line_bytes=8)
    caplog.set_level(logging.DEBUG, logger="hardware.linebuffer")
    # Spread over several feeds: the buffer must stop keeping bytes once past the limit.
    assert buffer.feed(b"SECRET") == []
    assert buffer.feed(b"CARD99") == []
    assert buffer.pending == b""
    assert buffer.feed(b"77\rOK1\r") == ["OK1"]
    assert "14 bytes" in caplog.text
    assert "SECRET" not in caplog.text
    assert "CARD" not in caplog.text


def test_line_of_exactly_max_bytes_is_kept() -> None:
    buffer = LineBuffer(max_line_bytes=4)
    assert buffer.feed(b"ABCD\rABCDE\rABC\r") == ["ABCD", "ABC"]


def test_clear_while_discarding_starts_afresh(caplog: pytest.LogCaptureFixture) -> None:
    buffer = LineBuffer(max_line_bytes=4)
    caplog.set_level(logging.WARNING, logger="hardware.linebuffer")
    assert buffer.feed(b"TOOLONG") == []
    buffer.clear()
    assert buffer.feed(b"OK\r") == ["OK"]
    assert "7 bytes" in caplog.text


@pytest.mark.parametrize(("terminator", "max_line_bytes"), [("NUL", 256), ("cr", 256), ("CR", 0)])
def test_bad_arguments(terminator: str, max_line_bytes: int) -> None:
    with pytest.raises(ValueError):
        LineBuffer(terminator, max_line_bytes)


codes = st.lists(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40
    ),
    max_size=20,
)
# One or more end-of-line marks after each code, so blank lines are exercised too.
eol_runs = st.lists(st.sampled_from([b"\r", b"\n", b"\r\n"]), min_size=1, max_size=3).map(b"".join)


@given(
    codes=codes,
    data=st.data(),
    terminator=st.sampled_from(["CR", "LF", "CRLF"]),
)
def test_any_chopping_yields_exactly_the_codes(
    codes: list[str], data: st.DataObject, terminator: str
) -> None:
    stream = b"".join(code.encode("ascii") + data.draw(eol_runs) for code in codes)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=len(stream) + 1)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[start:end] for start, end in pairwise(bounds)]

    buffer = LineBuffer(terminator)
    assert feed_all(buffer, chunks) == codes
    assert buffer.pending == b""
