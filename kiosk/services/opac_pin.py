"""Students' OPAC PINs: stored only as salted scrypt hashes, checked in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

# scrypt with n=2**14, r=8 (16 MiB, ~30 ms): a school's roster of a few thousand students
# still imports in a minute or two. A PIN has few digits, so no hash makes a stolen table
# safe for long; what protects a PIN is that the table never leaves the central and that
# /opac limits how often anyone may guess (Flask-Limiter).
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"

PIN_PATTERN = re.compile(r"\d{4,12}", re.ASCII)


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_pin(pin: str) -> str:
    """A storable hash of `pin`: "scrypt$n$r$p$salt$hash" (base64)."""
    salt = secrets.token_bytes(16)
    return "$".join(
        (_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(_derive(pin, salt, _N, _R, _P)))
    )


# A hash of nothing anyone can type, checked when the card is unknown, so a wrong card number
# takes as long to refuse as a wrong PIN (the reply time says nothing about which it was).
_DUMMY = hash_pin(secrets.token_hex(16))


def verify_pin(pin: str, stored: str | None) -> bool:
    """Whether `pin` matches `stored` (a `hash_pin` value). An empty or unknown stored value
    never matches, and still costs one hash."""
    try:
        scheme, n, r, p, salt, expected = (stored or _DUMMY).split("$")
        if scheme != _SCHEME:
            raise ValueError(scheme)
        actual = _derive(pin, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        _, n, r, p, salt, expected = _DUMMY.split("$")
        _derive(pin, base64.b64decode(salt), int(n), int(r), int(p))
        return False
    return bool(stored) and hmac.compare_digest(actual, base64.b64decode(expected))
