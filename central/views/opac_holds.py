"""Placing a hold from the public catalogue (/opac/titles/<id>/hold), when `[opac] holds = true`."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from flask_limiter import RequestLimit
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import DateField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, Regexp

from central import holds
from central.changes import lock_change_counter
from central.context import get_db, services
from db.models import Patron, PatronStatus, Title
from kiosk.policies import hold_policy
from kiosk.services.opac_pin import PIN_PATTERN, verify_pin
from kiosk.throttle import FailureLimit, client_address, limit_failures, make_limiter, wait_s

log = logging.getLogger(__name__)

bp = Blueprint("opac_holds", __name__, url_prefix="/opac")

# Failed tries allowed before that key is refused, in a moving window (Flask-Limiter syntax).
# Tests may lower them in app.config. A PIN has only a few digits, so what protects it is how
# few guesses anyone gets.
HOLD_LIMITS = {
    # One phone guessing one card's PIN: trips first, locks out only that pair.
    "OPAC_HOLD_FAILURES_PER_ADDRESS_AND_CARD": "5 per 15 minutes",
    # One address trying many cards. A school's Wi-Fi puts many phones behind one address,
    # so this is loose; the per-card backstop is what stops a guesser.
    "OPAC_HOLD_FAILURES_PER_ADDRESS": "30 per hour",
    # One card from anywhere: at most 20 guesses a day at a 4-digit PIN.
    "OPAC_HOLD_FAILURES_PER_CARD": "20 per day",
    # Everyone together: the last backstop against a spread-out guess.
    "OPAC_HOLD_FAILURES_EVERYWHERE": "300 per hour",
}

# What the throttle counts: a card or secret not recognised (403) or a form refused (400).
FAILED_STATUSES = (400, 403)


class PinHoldForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    """Card number + PIN."""

    who = StringField(validators=[InputRequired(), Length(max=64)])
    secret = PasswordField(validators=[InputRequired(), Regexp(f"^{PIN_PATTERN.pattern}$")])


class BirthDateHoldForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    """Student number + birth date."""

    who = StringField(validators=[InputRequired(), Length(max=32)])
    secret = DateField(validators=[InputRequired()])


def init_app(app: Flask) -> None:
    """Register the hold route, its failure throttling and `opac_hold_form` for the title
    page; call after the console's init_app (which sets up CSRF)."""
    for setting, rate in HOLD_LIMITS.items():
        app.config.setdefault(setting, rate)
    limit_failures(
        make_limiter(app),
        bp,
        "opac_holds.place",
        [
            FailureLimit(
                "OPAC_HOLD_FAILURES_PER_ADDRESS_AND_CARD",
                lambda: f"{client_address()}|{_submitted_who()}",
            ),
            FailureLimit("OPAC_HOLD_FAILURES_PER_ADDRESS", client_address),
            FailureLimit("OPAC_HOLD_FAILURES_PER_CARD", _submitted_who),
            FailureLimit("OPAC_HOLD_FAILURES_EVERYWHERE", lambda: "everyone"),
        ],
        failed=lambda response: response.status_code in FAILED_STATUSES,
        on_breach=_throttled,
    )
    app.register_blueprint(bp)
    app.context_processor(_hold_form)


def _hold_form() -> dict[str, Any]:
    settings = services().settings.opac
    if request.blueprint != "opac" or request.endpoint != "opac.title" or not settings.holds:
        return {"opac_hold_form": None}
    return {"opac_hold_form": _form(), "opac_identify_by": settings.identify_by}


def _form() -> PinHoldForm | BirthDateHoldForm:
    if services().settings.opac.identify_by == "birth_date":
        return BirthDateHoldForm()
    return PinHoldForm()


def _submitted_who() -> str:
    # Case and spaces don't make a new card to guess at.
    return (request.form.get("who") or "").strip().upper()[:64] or "(none)"


def _throttled(limit: RequestLimit) -> Response:
    log.warning("opac hold attempts throttled (%s)", limit.limit)
    page = _page("too_many", None, wait_minutes=max(1, round(wait_s(limit) / 60)))
    return current_app.response_class(page, status=429, mimetype="text/html")


def _page(outcome: str, title: Title | None, **fields: Any) -> str:
    return render_template(
        "opac/hold_result.html",
        outcome=outcome,
        title=title,
        identify_by=services().settings.opac.identify_by,
        **fields,
    )


@bp.post("/titles/<int:title_id>/hold")
def place(title_id: int) -> Any:
    """Identify the student, then ask the hold rules; the page names the book, never them."""
    svc = services()
    if not svc.settings.opac.holds:
        abort(404)
    db = get_db()
    title = db.get(Title, title_id)
    if title is None:
        abort(404)
    form = _form()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            log.info("opac hold form refused: %s", form.csrf_token.errors[0])
            return _page("form_expired", title), 400
        # An empty field or a PIN that is not digits: the same words as a wrong PIN.
        return _page("not_recognised", title), 400
    patron = _identify(db, str(form.who.data or "").strip(), form.secret.data)
    if patron is None:
        log.info("opac hold on title %d: not recognised", title_id)
        return _page("not_recognised", title), 403
    lock_change_counter(db)
    policy = hold_policy(svc.settings)
    outcome = holds.place_hold(db, patron, title, policy, svc.clock())
    db.commit()
    log.info(
        "opac hold on title %d for patron id %d: %s",
        title_id,
        patron.id,
        "placed" if outcome.ok else outcome.refusal,
    )
    return _page(
        "placed" if outcome.ok else str(outcome.refusal),
        title,
        shelf_days=policy.shelf_days,
        max_holds=policy.max_holds,
        location=outcome.shelf_location,
    )


def _identify(db: Session, who: str, secret: object) -> Patron | None:
    """The student the form names, if the second proof matches; None otherwise (the same for
    an unknown card, a wrong PIN and a student who has left)."""
    if services().settings.opac.identify_by == "birth_date":
        patron = db.scalar(select(Patron).where(Patron.student_number == who))
        matches = (
            patron is not None
            and isinstance(secret, dt.date)
            and patron.birth_date is not None
            and patron.birth_date == secret
        )
    else:
        patron = db.scalar(select(Patron).where(Patron.card_barcode == who))
        # verify_pin costs one hash even without a patron: the reply time says nothing.
        matches = verify_pin(str(secret), patron.opac_pin_hash if patron else None)
    if not matches or patron is None or patron.status == PatronStatus.LEFT:
        return None
    return patron
