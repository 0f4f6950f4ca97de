"""Console users and their server-side sessions: argon2 passwords, revocable sign-ins."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from db.central_models import ConsoleSession, StaffRole, StaffUser

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same either way.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD_LENGTH = 8
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
# Writing last_seen_at on every page view would make each click a database write; a minute's
# precision is plenty for a 30-minute idle limit.
TOUCH_EVERY = dt.timedelta(minutes=1)
# The key in the console's Flask session (a signed cookie) that holds the session token; the
# sign-in itself is a row of central_console_sessions.
SESSION_KEY = "console_session"


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
    """Create a console user, or set a new password and role for an existing one (which ends
    every session the old password opened). Caller commits."""
    if role not in set(StaffRole):
        raise ValueError(f"role must be one of {', '.join(StaffRole)}")
    user = find_user(session, username)
    if user is None:
        user = StaffUser(username=username, created_at=now, disabled=False)
        session.add(user)
    else:
        end_user_sessions(session, user.id)
    user.password_hash = hash_password(password)
    user.role = role
    session.flush()
    return user


def set_user_disabled(session: Session, user: StaffUser, disabled: bool) -> int:
    """Disable (or enable) `user`; disabling ends their sessions at once. Returns how many
    sessions ended. Caller commits."""
    user.disabled = disabled
    ended = end_user_sessions(session, user.id) if disabled else 0
    session.flush()
    return ended


def find_user(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def check_credentials(
    session: Session, username: str, password: str, now: dt.datetime
) -> StaffUser | None:
    """The enabled user that `username` and `password` name, or None. Caller commits.

    Counting failures is the caller's business (Flask-Limiter in the console); this only
    answers whether the pair is right, in the same time whether or not the user exists.
    """
    user = find_user(session, username.strip()[:64])
    ok: bool
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    return user


# --- server-side sessions ----------------------------------------------------------------------


def _token_sha256(token: str) -> str:
    # Tokens are 32 random bytes, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_console_session(session: Session, user: StaffUser, now: dt.datetime) -> str:
    """Open a session for `user`; returns the token for the cookie (only its hash is stored).
    Expired sessions of anyone are swept here. Caller commits."""
    session.execute(
        delete(ConsoleSession).where(
            or_(
                ConsoleSession.last_seen_at < now - IDLE_TIMEOUT,
                ConsoleSession.created_at < now - ABSOLUTE_TIMEOUT,
            )
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_sha256=_token_sha256(token), user_id=user.id, created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return token


def console_session_user(
    session: Session, token: object, now: dt.datetime, *, touch: bool = True
) -> StaffUser | None:
    """The enabled user signed in with `token`, or None (no such session, or it expired).

    `touch` counts the request as activity (Caller commits); the monitor's own background
    refresh passes False and may use a read-only session, so a console left open still signs
    out after IDLE_TIMEOUT.
    """
    if not isinstance(token, str) or not token:
        return None
    row = session.scalar(
        select(ConsoleSession).where(ConsoleSession.token_sha256 == _token_sha256(token))
    )
    if row is None:
        return None
    if now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT:
        if touch:
            session.delete(row)
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or user.disabled:
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return user


def end_console_session(session: Session, token: object) -> None:
    """Sign out: the session `token` names stops working at once. Caller commits."""
    if isinstance(token, str) and token:
        session.execute(
            delete(ConsoleSession).where(ConsoleSession.token_sha256 == _token_sha256(token))
        )


def end_user_sessions(session: Session, user_id: int) -> int:
    """End every session of one user (new password, disabled). Caller commits."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def token_matches(expected: str | None, presented: str | None) -> bool:
    """Constant-time comparison of a configured secret with what a client presented."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
