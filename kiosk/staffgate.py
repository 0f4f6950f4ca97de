"""The staff page's PIN: what an acceptable PIN is, checking one, and short sign-ins held here."""

from __future__ import annotations

import argparse
import getpass
import hmac
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from db.files import write_secret_file
from kiosk.config import Settings, read_secret
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_OK

log = logging.getLogger(__name__)

Command = Callable[[Settings, argparse.Namespace], int]

MIN_PIN_DIGITS = 6
MAX_PIN_DIGITS = 32


class PinCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    # No PIN file, or an empty one: the staff page is switched off.
    NO_PIN = "no_pin"
    # The file holds a PIN the rule refuses (written by hand before the rule, say): switched
    # off too, rather than guarded by a guessable PIN.
    WEAK_PIN = "weak_pin"


def pin_problem(pin: str) -> str | None:
    """Why `pin` can't be the staff PIN, or None. Checked wherever a PIN is set or read.

    A million 6-digit PINs at the throttled rate (kiosk/views/staff.py) take years to try;
    10 000 4-digit ones take days.
    """
    if not (pin.isascii() and pin.isdigit()):
        return "use digits only (the staff page has a number pad)"
    if len(pin) < MIN_PIN_DIGITS:
        return f"use at least {MIN_PIN_DIGITS} digits"
    if len(pin) > MAX_PIN_DIGITS:
        return f"use at most {MAX_PIN_DIGITS} digits"
    return None


def generate_pin() -> str:
    """A random PIN the rule accepts."""
    return f"{secrets.randbelow(10**MIN_PIN_DIGITS):0{MIN_PIN_DIGITS}d}"


class StaffGate:
    """Who may open /status: the PIN from its secret file, and short sign-ins.

    Sign-ins are random tokens held here, not signed cookies, so nothing a browser holds can be
    used to guess the PIN offline. How often a PIN may be tried is the web layer's business
    (Flask-Limiter); the gate only answers. The PIN file is read at each attempt, so changing
    it needs no restart.
    """

    def __init__(
        self,
        pin_file: Path | None,
        *,
        sign_in_s: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin_file = pin_file
        self.sign_in_s = sign_in_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}

    def pin_state(self) -> PinCheck:
        """OK when a usable PIN is set, else why the staff page is switched off."""
        return _state_of(read_secret(self.pin_file))

    def attempt(self, pin: str) -> tuple[PinCheck, str | None]:
        """(OK, a new sign-in token), or (why not, None)."""
        expected = read_secret(self.pin_file)
        state = _state_of(expected)
        if state is not PinCheck.OK or expected is None:
            return state, None
        if not hmac.compare_digest(pin.encode("utf-8"), expected.encode("utf-8")):
            return PinCheck.WRONG, None
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = self._monotonic() + self.sign_in_s
        log.info("staff signed in to the status page")
        return PinCheck.OK, token

    def signed_in(self, token: str | None) -> bool:
        with self._lock:
            now = self._monotonic()
            for old in [k for k, until in self._tokens.items() if until <= now]:
                del self._tokens[old]
            return token is not None and token in self._tokens

    def sign_out(self, token: str | None) -> None:
        with self._lock:
            self._tokens.pop(token or "", None)


def _state_of(expected: str | None) -> PinCheck:
    if expected is None:
        return PinCheck.NO_PIN
    return PinCheck.WEAK_PIN if pin_problem(expected) else PinCheck.OK


def write_pin_file(path: Path, pin: str) -> None:
    """Replace the PIN file with `pin`, readable by its owner only from the first byte.

    Raises ValueError (saying why) when the rule refuses the PIN.
    """
    problem = pin_problem(pin)
    if problem:
        raise ValueError(problem)
    # A reader sees the old PIN or the new one, never half a file.
    write_secret_file(path, pin)


# --- set-staff-pin -----------------------------------------------------------------------------


def register_commands(
    sub: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add `set-staff-pin` to run_kiosk.py's subparsers and its COMMANDS table."""
    parser = sub.add_parser(
        "set-staff-pin",
        parents=[common],
        help=f"set the staff page PIN ({MIN_PIN_DIGITS} or more digits) in [kiosk] staff_pin_file",
    )
    parser.add_argument("--generate", action="store_true", help="make up a random PIN and print it")
    commands["set-staff-pin"] = cmd_set_staff_pin


def cmd_set_staff_pin(settings: Settings, args: argparse.Namespace) -> int:
    path = settings.kiosk.staff_pin_file
    if path is None:
        print("Set staff_pin_file in the [kiosk] section of config.toml first.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.generate:
        pin = generate_pin()
    elif sys.stdin.isatty():
        pin = getpass.getpass("Staff PIN: ").strip()
        if getpass.getpass("Staff PIN again: ").strip() != pin:
            print("The two PINs differ; nothing changed.", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        pin = sys.stdin.readline().strip()
    try:
        write_pin_file(path, pin)
    except ValueError as exc:
        print(f"PIN refused: {exc}; nothing changed.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.generate:
        print(f"Staff page PIN: {pin}")
    print(f"The staff PIN is saved in {path} (readable by this user only).")
    return EXIT_OK
