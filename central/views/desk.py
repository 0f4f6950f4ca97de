"""The desk (/desk) and the hold shelf (/hold-shelf): lending, returns, renewals and holds at the console.

A USB scanner at the desk is a keyboard: it types the code and Enter into the one scan field.
Each scan is a POST that runs one service call (central.desk) and commits with its audit
entry, then redirects back to the page (POST/redirect/GET, so reloading never scans twice);
what the scan did is carried to the page in the session as ids, never names or card numbers.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext  # type: ignore[import-untyped]  # no type hints
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from central import desk
from central.context import get_db, services
from central.desk import DeskResult
from central.hold_shelf import hold_shelf
from central.i18n import local_date
from central.permissions import Permission
from central.views.guard import audit, requires
from central.views.language import current_language
from db.models import Hold, Item, Patron, Title
from kiosk.circulation.barcodes import BarcodeKind, classify, to_isbn13
from kiosk.circulation.rules import Destination
from kiosk.circulation.schoolyear import class_display
from kiosk.i18n import translations as kiosk_translations
from kiosk.policies import barcode_rules, hold_policy, loan_policy
from kiosk.search.query import MAX_QUERY_CHARS, search_students, search_titles
from kiosk.services.lending import Action

log = logging.getLogger(__name__)

bp = Blueprint("desk", __name__)

# The last scan's outcome, kept in the session for the page the POST redirects to. It stays
# shown (a reload or a language switch repeats it) until the next scan or another student.
LAST_KEY = "desk_last"
# The last hold placed or cancelled, in the same way.
HOLD_KEY = "desk_hold"
# Titles offered when reserving by a word of the title, and students when one is looked for by
# name; the librarian types more to narrow.
RESERVE_CHOICES = 8
STUDENT_CHOICES = 8


class ScanForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    """What the scanner (or a person) typed, and the student at the desk, if any."""

    code = StringField(
        validators=[
            InputRequired(message=lazy_gettext("Scan a card or a book.")),
            Length(max=128, message=lazy_gettext("That code is too long.")),
        ]
    )
    patron = IntegerField(validators=[Optional(), NumberRange(min=1)])


class LoanForm(FlaskForm):  # type: ignore[misc]
    """Renew or return one of the student's books from their list."""

    patron = IntegerField(validators=[Optional(), NumberRange(min=1)])
    item = StringField(validators=[InputRequired(), Length(max=64)])


class HoldForm(FlaskForm):  # type: ignore[misc]
    """Reserve a title for the student, or cancel one of their holds."""

    patron = IntegerField(validators=[InputRequired(), NumberRange(min=1)])
    title = IntegerField(validators=[Optional(), NumberRange(min=1)])


class FindTitleForm(FlaskForm):  # type: ignore[misc]
    """A title to reserve, by ISBN, a copy's barcode or words of the title (GET, no token)."""

    class Meta:
        csrf = False

    find = StringField(validators=[Optional(), Length(max=MAX_QUERY_CHARS)])
    patron = HiddenField()


# --- what the desk says ------------------------------------------------------------------------

# The kiosk's own sentences (kiosk/views/wording.py _MESSAGES), translated by the kiosk's
# catalog, so the desk says to the student what a kiosk would. tests/central/test_desk_views.py
# checks each is still the kiosk's, word for word.
KIOSK_SENTENCES = {
    "checked_out": "Borrowed: {title}. Due back {due}.",
    "renewed": "Renewed: {title}. New due date: {due}.",
    "renew_or_return": "You already have {title}. Do you want to renew it or return it?",
    "renew_or_return:renewal_too_early": (
        "You already have {title}. It can be renewed from {renew_on}; you can return it now."
    ),
    "renew_or_return:renewal_limit": (
        "You already have {title}. It can't be renewed again; it is due back {due}."
    ),
    "renew_or_return:renewal_held": (
        "You already have {title}. Another student is waiting for it, so it can't be renewed."
    ),
    "refused:card_blocked": "Please see the librarian about your account before borrowing.",
    "refused:card_left": "This card is no longer active. Please see the librarian.",
    "refused:has_overdue": "You have an overdue book. Please return it before borrowing more.",
    "refused:too_many_loans": (
        "You already have as many books as you can borrow. Return one to borrow another."
    ),
    "refused:not_loanable": "This book can't be borrowed. Please give it to the librarian.",
    "refused:on_loan_to_other": (
        "This book is still on loan to another student — please give it to the librarian."
    ),
    "refused:held_for_other": (
        "This book is reserved for another student — please give it to the librarian."
    ),
    "refused:no_copy_available": (
        "No copy of this book can be borrowed right now. Please ask the librarian."
    ),
    "refused:renewal_limit": "This book can't be renewed again. It is due back {due}.",
    "refused:renewal_too_early": "This book can be renewed from {renew_on}.",
    "refused:renewal_held": "Another student is waiting for this book, so it can't be renewed.",
    "refused:which_copy": (
        "Several copies of this book are out. Please scan the library barcode inside the cover."
    ),
    "unknown:bad_isbn_check_digit": "The barcode didn't scan cleanly. Please scan it again.",
    "unknown:bad_luhn": "The card didn't scan cleanly. Please scan it again.",
    "unknown:sheet_music": (
        "This is sheet music, not a library book. Please give it to the librarian."
    ),
}

# What only the desk says (msgids for desk.po): the librarian, not the student, reads these.
DESK_SENTENCES = {
    "returned": lazy_gettext("Returned: {title}."),
    "set_aside": lazy_gettext("{title} is for a student who reserved it."),
    "not_on_loan": lazy_gettext("{title} is not on loan."),
    "unknown": lazy_gettext("No student card or book has this code: {code}"),
    "refused": lazy_gettext("Nothing was recorded for {title}."),
    "choose_student": lazy_gettext("Students matching “{code}”: choose one."),
    "empty": lazy_gettext("Scan a card or a book."),
    "renew_or_return:refused": lazy_gettext("{title} is already this student's."),
    "refused:not_on_loan": lazy_gettext("{title} is not on loan to this student."),
}


def _kiosk_sentence(key: str, language: str) -> str:
    return str(kiosk_translations(language).gettext(KIOSK_SENTENCES[key]))


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(services().settings.circulation.timezone)


def _day(value: dt.datetime | dt.date | None, language: str) -> str:
    if value is None:
        return ""
    return local_date(value, _zone(), language)


def sentence_for(last: dict[str, Any], language: str) -> str:
    """The sentence for a scan's outcome as kept in the session (`_remember`)."""
    action, reason = last.get("action", "unknown"), last.get("refusal")
    fields = {
        "title": quoted(last.get("title") or "", language),
        "due": _day(_parse_day(last.get("due")), language),
        "renew_on": _day(_parse_day(last.get("renewable_on")), language),
        "code": last.get("code", ""),
    }
    key = f"{action}:{reason}" if reason else str(action)
    if action == "refused" and reason == "not_on_loan" and last.get("destination"):
        key = "not_on_loan"
    if action == "renew_or_return" and reason and key not in KIOSK_SENTENCES:
        key = "renew_or_return:refused"
    if key in DESK_SENTENCES:
        return str(DESK_SENTENCES[key]).format(**fields)
    if key in KIOSK_SENTENCES:
        # The kiosk's Chinese puts the title in 《》 itself.
        return _kiosk_sentence(key, language).format(**{**fields, "title": last.get("title", "")})
    if str(action) in DESK_SENTENCES:
        return str(DESK_SENTENCES[str(action)]).format(**fields)
    if str(action) in KIOSK_SENTENCES:
        return _kiosk_sentence(str(action), language).format(
            **{**fields, "title": last.get("title", "")}
        )
    # A refusal with no words of its own yet: say at least that nothing happened.
    return str(DESK_SENTENCES["refused"]).format(**fields)


def quoted(title: str, language: str) -> str:
    """A title as Chinese writes it in a sentence, 《草房子》; English takes it as it is."""
    return f"《{title}》" if title and language == "zh" else title


def _parse_day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def destination_line(last: dict[str, Any], held_for: Patron | None) -> str:
    """Where the book in the librarian's hand goes: the hold shelf for whom, or the shelf."""
    destination = last.get("destination")
    if destination == Destination.HOLD_SHELF and held_for is not None:
        return str(
            gettext(
                "Put it on the hold shelf: %(name)s (%(class_name)s)",
                name=held_for.name,
                class_name=class_display(held_for.class_name, current_language()),
            )
        )
    if destination == Destination.LIBRARIAN:
        return str(
            gettext("Keep it at the desk: this copy is marked lost, withdrawn or in repair.")
        )
    if destination in (Destination.RETURN_BOX, Destination.HOLD_SHELF):
        return str(gettext("Put it back on the shelf"))
    return ""


# --- the desk page -----------------------------------------------------------------------------


@bp.get("/desk")
@requires(Permission.DESK)
def page() -> str:
    """The scan field, what the last scan did, and the student at the desk with their books."""
    db = get_db()
    svc = services()
    now = svc.clock()
    patron = _patron(db, request.args.get("patron"))
    last = session.get(LAST_KEY)
    if last is not None and last.get("patron") != (patron.id if patron else None):
        last = None
    language = current_language()
    result = None
    if last is not None:
        held_for = db.get(Patron, last["held_for"]) if last.get("held_for") else None
        result = {
            "last": last,
            "students": (
                search_students(db, last["code"], limit=STUDENT_CHOICES)
                if last.get("action") == "choose_student"
                else []
            ),
            "sentence": sentence_for(last, language),
            "destination": destination_line(last, held_for),
            "ok": last.get("action")
            in ("checked_out", "returned", "renewed", "set_aside", "choose_student"),
        }
    at_desk = (
        desk.patron_at_desk(db, patron, loan_policy(svc.settings), hold_policy(svc.settings), now)
        if patron is not None
        else None
    )
    find = FindTitleForm(request.args)
    choices = _titles_to_reserve(db, find.find.data or "") if patron is not None else []
    return render_template(
        "central/desk/desk.html",
        form=ScanForm(formdata=None, patron=patron.id if patron else None),
        patron=patron,
        at_desk=at_desk,
        result=result,
        find=find,
        choices=choices,
        now=now,
    )


@bp.post("/desk/scan")
@requires(Permission.DESK)
def scan() -> BaseResponse:
    """One scan: a card chooses the student; a book is lent to them, or taken back if nobody is
    at the desk."""
    form = ScanForm()
    db = get_db()
    patron = _patron(db, form.patron.data)
    if not form.validate():
        _remember({"action": "empty"}, patron)
        return _back(patron)
    svc = services()
    now = svc.clock()
    code = str(form.code.data).strip()
    found = _look_up(db, code, svc.settings)
    if isinstance(found, Patron):
        # Another student: what the desk said to the last one goes.
        session.pop(LAST_KEY, None)
        session.pop(HOLD_KEY, None)
        return _back(found)
    policy = loan_policy(svc.settings)
    if isinstance(found, Item):
        result = (
            desk.check_out(db, patron, found, policy, now)
            if patron is not None
            else desk.check_in(db, found, policy, now)
        )
    elif isinstance(found, Title):
        result = (
            desk.check_out_title(db, patron, found, policy, now)
            if patron is not None
            else desk.check_in_title(db, found, None, policy, now)
        )
    else:
        # Not a code: a student who forgot their card is found by name (two characters do),
        # student number or class, as in the console's search.
        students = search_students(db, code, limit=STUDENT_CHOICES) if found == "no_match" else []
        if len(students) == 1:
            session.pop(LAST_KEY, None)
            return _back(db.get(Patron, students[0].patron_id))
        action = "choose_student" if students else "unknown"
        _remember({"action": action, "refusal": found, "code": code[:64]}, patron)
        return _back(patron)
    return _record(db, result, patron)


@bp.post("/desk/renew")
@requires(Permission.DESK)
def renew() -> BaseResponse:
    """Renew one of the student's books from their list."""
    form = LoanForm()
    db = get_db()
    patron = _patron(db, form.patron.data)
    item = _item(db, form.item.data) if form.validate() else None
    if patron is None or item is None:
        abort(400)
    svc = services()
    result = desk.renew(db, patron, item, loan_policy(svc.settings), svc.clock())
    return _record(db, result, patron)


@bp.post("/desk/return")
@requires(Permission.DESK)
def take_back() -> BaseResponse:
    """Return one of the student's books from their list (the student stays at the desk)."""
    form = LoanForm()
    db = get_db()
    patron = _patron(db, form.patron.data)
    item = _item(db, form.item.data) if form.validate() else None
    if item is None:
        abort(400)
    svc = services()
    result = desk.check_in(db, item, loan_policy(svc.settings), svc.clock())
    return _record(db, result, patron)


def _record(db: Session, result: DeskResult, patron: Patron | None) -> BaseResponse:
    """Audit what changed, commit, remember the outcome for the page, and go back to it."""
    if result.changed:
        action = {
            Action.CHECKED_OUT: "loan.checkout",
            Action.RETURNED: "loan.return",
            Action.RENEWED: "loan.renew",
            Action.SET_ASIDE: "hold.set_aside",
        }[result.action]
        subject = f"loan:{result.loan_uuid}" if result.loan_uuid else f"item:{result.item_barcode}"
        detail: dict[str, Any] = {"item": result.item_barcode, "title": result.title}
        if patron is not None:
            detail["patron_id"] = patron.id
        if result.held_for is not None:
            detail["held_for_patron_id"] = result.held_for.patron_id
        audit(action, subject, detail)
    db.commit()
    log.info(
        "desk %s %s%s",
        result.action,
        result.item_barcode or "-",
        f" ({result.refusal})" if result.refusal else "",
    )
    _remember(
        {
            "action": str(result.action),
            "refusal": str(result.refusal) if result.refusal else None,
            "title": result.title,
            "item": result.item_barcode,
            "due": _local_day_iso(result.due_at),
            "renewable_on": result.renewable_on.isoformat() if result.renewable_on else None,
            "destination": str(result.destination) if result.destination else None,
            "days_overdue": result.days_overdue,
            "held_for": result.held_for.patron_id if result.held_for else None,
        },
        patron,
    )
    return _back(patron)


def _local_day_iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(_zone()).date().isoformat()


def _remember(last: dict[str, Any], patron: Patron | None) -> None:
    session[LAST_KEY] = {**last, "patron": patron.id if patron else None}
    session.pop(HOLD_KEY, None)


def _back(patron: Patron | None) -> BaseResponse:
    if patron is None:
        return redirect(url_for("desk.page"))
    return redirect(url_for("desk.page", patron=patron.id))


def _patron(db: Session, value: Any) -> Patron | None:
    try:
        patron_id = int(value)
    except (TypeError, ValueError):
        return None
    return db.get(Patron, patron_id)


def _item(db: Session, barcode: Any) -> Item | None:
    if not isinstance(barcode, str) or not barcode:
        return None
    return db.scalar(select(Item).where(Item.barcode == barcode))


def _look_up(db: Session, code: str, settings: Any) -> Patron | Item | Title | str:
    """A card, a copy or a title (by ISBN) for `code`; else why it is none (the classifier's
    reason, or "no_match")."""
    classified = classify(code, barcode_rules(settings))
    if classified.kind is BarcodeKind.UNKNOWN and classified.reason not in (
        "no_pattern_matched",
        "not_a_book_ean",
    ):
        return classified.reason
    value = classified.value or code
    if classified.kind is BarcodeKind.ISBN:
        title = db.scalar(select(Title).where(Title.isbn13 == value))
        return title if title is not None else "no_match"
    # Whatever the patterns say, a card or copy the library has is what was scanned: a school's
    # own barcodes need not fit the configured patterns.
    patron = db.scalar(select(Patron).where(Patron.card_barcode == value))
    if patron is not None:
        return patron
    item = db.scalar(select(Item).where(Item.barcode == value))
    if item is not None:
        return item
    isbn = to_isbn13(value) if classified.reason == "also_isbn10" else None
    if isbn is not None:
        title = db.scalar(select(Title).where(Title.isbn13 == isbn))
        if title is not None:
            return title
    return "no_match"


# --- holds at the desk -------------------------------------------------------------------------


def _titles_to_reserve(db: Session, text: str) -> list[Any]:
    text = text.strip()[:MAX_QUERY_CHARS]
    if not text:
        return []
    return search_titles(db, text, limit=RESERVE_CHOICES)


@bp.post("/desk/holds")
@requires(Permission.HOLDS)
def place_hold() -> BaseResponse:
    """Reserve a title for the student at the desk, by the hold rules."""
    form = HoldForm()
    db = get_db()
    patron = _patron(db, form.patron.data) if form.validate() else None
    title = db.get(Title, form.title.data) if form.title.data else None
    if patron is None or title is None:
        abort(400)
    svc = services()
    policy = hold_policy(svc.settings)
    outcome = desk.place_hold(db, patron, title, policy, svc.clock())
    if outcome.ok and outcome.hold is not None:
        audit(
            "hold.place",
            f"hold:{outcome.hold.uuid}",
            {"title": title.title, "title_id": title.id, "patron_id": patron.id},
        )
    db.commit()
    session.pop(LAST_KEY, None)
    session[HOLD_KEY] = {
        "patron": patron.id,
        "ok": outcome.ok,
        "refusal": str(outcome.refusal) if outcome.refusal else None,
        "title": title.title,
        "call_number": title.call_number,
        "location": outcome.shelf_location,
        "max": policy.max_holds,
        "days": policy.shelf_days,
    }
    return _back(patron)


@bp.post("/desk/holds/<int:hold_id>/cancel")
@requires(Permission.HOLDS)
def cancel_hold(hold_id: int) -> BaseResponse:
    """Cancel one of the student's holds; a copy waiting for it passes on."""
    form = HoldForm()
    db = get_db()
    hold = db.get(Hold, hold_id)
    if hold is None or not form.validate() or form.patron.data != hold.patron_id:
        abort(400)
    title = db.get(Title, hold.title_id)
    cancelled = desk.cancel_hold(db, hold, services().clock())
    if cancelled:
        audit(
            "hold.cancel",
            f"hold:{hold.uuid}",
            {"title": title.title if title else None, "patron_id": hold.patron_id},
        )
    db.commit()
    session.pop(LAST_KEY, None)
    session[HOLD_KEY] = {
        "patron": hold.patron_id,
        "cancelled": cancelled,
        "title": title.title if title else "",
    }
    return _back(db.get(Patron, hold.patron_id))


def hold_sentence(outcome: dict[str, Any]) -> str:
    """The sentence for a hold placed, refused or cancelled at the desk (desk.po)."""
    title = quoted(str(outcome.get("title", "")), current_language())
    if "cancelled" in outcome:
        if outcome["cancelled"]:
            return str(gettext("The hold on %(title)s is cancelled.", title=title))
        return str(gettext("The hold on %(title)s had already ended.", title=title))
    if outcome.get("ok"):
        return str(
            gettext(
                "Reserved %(title)s. When a copy comes back it waits on the hold shelf "
                "for %(days)s open days.",
                title=title,
                days=outcome.get("days"),
            )
        )
    refusal = outcome.get("refusal")
    sentences = {
        "card_blocked": gettext("This student's card is blocked."),
        "card_left": gettext("This student has left the school."),
        "already_on_loan": gettext("The student already has %(title)s.", title=title),
        "already_reserved": gettext("The student has already reserved %(title)s.", title=title),
        "not_holdable": gettext("%(title)s has no copy that could be lent.", title=title),
        "copy_on_shelf": gettext(
            "%(title)s is on the shelf: %(call_number)s, %(location)s.",
            title=title,
            call_number=outcome.get("call_number", ""),
            location=outcome.get("location", ""),
        ),
        "too_many_holds": gettext(
            "The student already has %(max)s holds, the most allowed.", max=outcome.get("max")
        ),
    }
    return str(sentences.get(str(refusal), gettext("The hold was not placed.")))


@bp.app_context_processor
def _hold_outcome() -> dict[str, Any]:
    if request.blueprint != "desk" or request.method != "GET":
        return {}
    # Shown with the student it was for, until the next scan or hold action (as the scan's).
    outcome = session.get(HOLD_KEY)
    if outcome is None or str(outcome.get("patron")) != request.args.get("patron"):
        return {"hold_outcome": None}
    ok = bool(outcome.get("ok") or outcome.get("cancelled"))
    return {"hold_outcome": {"sentence": hold_sentence(outcome), "ok": ok}}


# --- the hold shelf ----------------------------------------------------------------------------


@bp.get("/hold-shelf")
@requires(Permission.HOLD_SHELF)
def shelf() -> str:
    """Copies to pull from the shelves, copies waiting on the hold shelf, and what expires, a
    page of each (`?pull_page=`, `?shelf_page=`, `?expiring_page=`; a page number that is not
    one shows the first page, one past the end the last)."""
    svc = services()
    now = svc.clock()
    pages = {key: request.args.get(key, 1, type=int) or 1 for key in SHELF_PAGES}
    found = hold_shelf(get_db(), hold_policy(svc.settings), now, **pages)
    shown: dict[str, Any] = {
        "pull_page": found.to_pull.number,
        "shelf_page": found.waiting.number,
        "expiring_page": found.expiring_today.number,
    }

    def page_url(key: str, number: int) -> str:
        # Another page of one section keeps the pages the other sections show.
        return url_for("desk.shelf", **{**shown, key: number})

    return render_template("central/desk/hold_shelf.html", shelf=found, now=now, page_url=page_url)


# The hold-shelf list's page parameters, one per section.
SHELF_PAGES = ("pull_page", "shelf_page", "expiring_page")
