"""Turn a stream of scanner bytes into complete scan lines."""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

TERMINATORS = ("CR", "LF", "CRLF")

# Scanners are configured (and reconfigured by whoever last read the manual) to end
# scans with CR, LF or CRLF, so every one of them ends a line whatever the setting says.
_END_OF_LINE = re.compile(rb"\r\n|\r|\n")


class LineBuffer:
    """Collect bytes from partial reads and hand back whole lines.

    CR, LF and CRLF all end a line, whatever `terminator` is configured. Empty lines
    are dropped, which is also what keeps a CRLF pair split across two reads from
    producing an empty line. A line longer than `max_line_bytes` is discarded together
    with everything up to the next terminator, so a scanner stuck sending garbage
    cannot grow memory forever. Control characters other than CR and LF are kept:
    the barcode classifier rejects them with a reason.

    Not thread-safe: one reader feeds it.
    """

    def __init__(self, terminator: str = "CR", max_line_bytes: int = 256) -> None:
        if terminator not in TERMINATORS:
            raise ValueError(f"terminator must be one of {', '.join(TERMINATORS)}")
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self._terminator = terminator
        self._max_line_bytes = max_line_bytes
        self._partial = bytearray()
        # While discarding an overlong line, count its bytes instead of keeping them.
        self._discarding = False
        self._discarded_bytes = 0

    @property
    def terminator(self) -> str:
        """The configured terminator; informational, since all three end a line."""
        return self._terminator

    @property
    def max_line_bytes(self) -> int:
        """The longest line, in bytes without its terminator, that is delivered."""
        return self._max_line_bytes

    @property
    def pending(self) -> bytes:
        """Bytes of the line received so far (empty while discarding an overlong one)."""
        return bytes(self._partial)

    def feed(self, data: bytes) -> list[str]:
        """Add `data` and return the lines it completed, in order, decoded as UTF-8.

        Undecodable bytes become U+FFFD rather than raising: scanners send ASCII, and
        one noisy byte must not kill the reader.
        """
        *complete, rest = _END_OF_LINE.split(data)
        lines: list[str] = []
        for piece in complete:
            self._append(piece)
            line = self._end_line()
            if line is not None:
                lines.append(line)
        self._append(rest)
        return lines

    def clear(self) -> None:
        """Drop the partial line, e.g. when the port closes in the middle of a scan."""
        if self._discarding:
            self._log_discarded("cut off")
        self._partial.clear()
        self._discarding = False
        self._discarded_bytes = 0

    def _append(self, piece: bytes) -> None:
        if self._discarding:
            self._discarded_bytes += len(piece)
            return
        self._partial += piece
        if len(self._partial) > self._max_line_bytes:
            self._discarding = True
            self._discarded_bytes = len(self._partial)
            self._partial.clear()

    def _end_line(self) -> str | None:
        if self._discarding:
            self._log_discarded("ended")
            self._discarding = False
            self._discarded_bytes = 0
            return None
        if not self._partial:
            return None
        line = self._partial.decode("utf-8", errors="replace")
        self._partial.clear()
        return line

    def _log_discarded(self, how: str) -> None:
        # The length is all that is logged: the bytes may hold a student card number.
        logger.warning(
            "Discarded a scan line of %d bytes (%s; limit is %d bytes)",
            self._discarded_bytes,
            how,
            self._max_line_bytes,
        )
