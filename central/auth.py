"""Console sign-in: argon2 password hashes, login rate limits, CSRF tokens and expiring sessions."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.central_models import LoginAttempt, StaffRole, StaffUser

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same either way.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD_LENGTH = 8
FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW = dt.timedelta(minutes=15)
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> str | None:
    """Why `password` is unacceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"use at least {MIN_PASSWORD_LENGTH} characters"
    return None


def add_user(
    session: Session, username: str, password: str, role: str, now: dt.datetime
) -> StaffUser:
    """Create a console user (or set a new password and role for an existing one). Caller commits."""
    if role not in set(StaffRole):
        raise ValueError(f"role must be one of {', '.join(StaffRole)}")
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        user = StaffUser(username=username, role=role, created_at=now, disabled=False)
        session.add(user)
    user.password_hash = hash_password(password)
    user.role = role
    session.flush()
    return user


def find_user(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


@dataclass(frozen=True)
class LoginResult:
    user: StaffUser | None
    throttled: bool = False


def _recent_failures(session: Session, column: Any, value: str, since: dt.datetime) -> int:
    return (
        session.scalar(
            select(func.count(LoginAttempt.id)).where(
                column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
            )
        )
        or 0
    )


def attempt_login(
    session: Session, username: str, password: str, remote_addr: str, now: dt.datetime
) -> LoginResult:
    """Check a sign-in, counting failures per user name and per address. Caller commits.

    Throttling is checked first so a locked-out guesser learns nothing from the password check.
    """
    username = username.strip()[:64]
    remote_addr = (remote_addr or "unknown")[:64]
    since = now - FAILURE_WINDOW
    if (
        _recent_failures(session, LoginAttempt.username, username, since) >= FAILURES_PER_USER
        or _recent_failures(session, LoginAttempt.remote_addr, remote_addr, since)
        >= FAILURES_PER_ADDRESS
    ):
        return LoginResult(None, throttled=True)
    user = find_user(session, username)
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and not user.disabled
    session.add(LoginAttempt(username=username, remote_addr=remote_addr, at=now, success=ok))
    # Old attempts only matter inside the window; keep the table small.
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - 2 * FAILURE_WINDOW))
    if not ok or user is None:
        return LoginResult(None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    return LoginResult(user)


# --- the signed-in browser session -------------------------------------------------------------


def start_session(cookie: Any, user: StaffUser, now: dt.datetime) -> None:
    """Fill a fresh Flask session for `user` (the caller cleared the old one)."""
    cookie.clear()
    cookie["user_id"] = user.id
    cookie["login_at"] = now.timestamp()
    cookie["seen_at"] = now.timestamp()
    cookie["csrf"] = secrets.token_urlsafe(32)


def session_user_id(cookie: Any, now: dt.datetime, *, touch: bool = True) -> int | None:
    """The signed-in user's id, or None when nobody is signed in or the session expired.

    `touch` counts the request as activity; the monitor's own background refresh does not,
    so a console left open still signs out after IDLE_TIMEOUT.
    """
    user_id = cookie.get("user_id")
    if not isinstance(user_id, int):
        return None
    login_at = float(cookie.get("login_at", 0))
    seen_at = float(cookie.get("seen_at", 0))
    ts = now.timestamp()
    if (
        ts - seen_at > IDLE_TIMEOUT.total_seconds()
        or ts - login_at > ABSOLUTE_TIMEOUT.total_seconds()
    ):
        cookie.clear()
        return None
    if touch:
        cookie["seen_at"] = ts
    return user_id


def csrf_token(cookie: Any) -> str:
    token = cookie.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        cookie["csrf"] = token
    return token


def csrf_ok(cookie: Any, submitted: str | None) -> bool:
    expected = cookie.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )


def token_matches(expected: str | None, presented: str | None) -> bool:
    """Constant-time comparison of a configured secret with what a client presented."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
