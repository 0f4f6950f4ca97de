"""The console's records: the find box, a student's, a copy's and a title's page, and their edits."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext  # type: ignore[import-untyped]  # ships no type hints
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as BaseResponse

from central import records
from central.context import get_db, services
from central.permissions import Permission
from central.records import AddedCopies, Contact, CopyChanges, EditOutcome, RecordKind
from central.views.guard import audit, can, requires
from central.views.record_forms import (
    AddCopiesForm,
    BlockForm,
    ContactForm,
    CopyForm,
    UnblockForm,
)
from kiosk.circulation.compensation import yuan_text
from kiosk.policies import barcode_rules, chase_policy
from kiosk.search.query import MAX_QUERY_CHARS

log = logging.getLogger(__name__)

bp = Blueprint("records", __name__)


def N_(msgid: str) -> str:
    """Mark `msgid` for translation; templates translate it with `_()` when they show it."""
    return msgid


# How each state is said on the pages (msgids; records.po has the Chinese).
ITEM_STATUS = {
    "available": N_("On the shelf"),
    "on_loan": N_("On loan"),
    "on_hold_shelf": N_("On the hold shelf"),
    "lost": N_("Lost"),
    "withdrawn": N_("Withdrawn"),
    "in_repair": N_("In repair"),
}
PATRON_STATUS = {"active": N_("Active"), "blocked": N_("Blocked"), "left": N_("Left the school")}
HOLD_STATUS = {"waiting": N_("Waiting"), "ready": N_("Ready on the hold shelf")}
# A compensation case's state and reason: the same msgids as the compensation pages (loss.po).
CASE_STATUS = {
    "open": N_("Open"),
    "paid": N_("Paid"),
    "waived": N_("Waived"),
    "replaced": N_("Replaced"),
    "cancelled": N_("Cancelled: book found"),
    "refunded": N_("Refunded: book found"),
}
CASE_REASON = {"lost": N_("Lost"), "damaged": N_("Damaged")}

# What an edit that was refused means for the librarian (msgids).
OUTCOME_MESSAGES = {
    EditOutcome.UNCHANGED: N_("Nothing changed."),
    EditOutcome.REASON_REQUIRED: N_("Give the reason: the student is told it at the kiosk."),
    EditOutcome.PATRON_LEFT: N_(
        "This student has left the school; the next roster import decides their card."
    ),
    EditOutcome.BARCODE_TAKEN: N_("Barcode %(barcode)s already belongs to another copy."),
    EditOutcome.BARCODE_NOT_ITEM: N_(
        "%(barcode)s is not a copy's barcode here: the kiosks would not read it as a book."
    ),
    EditOutcome.BARCODE_IN_USE: N_(
        "The barcode of a copy on loan or on the hold shelf can be changed once it is back."
    ),
    EditOutcome.TOO_MANY_COPIES: N_("Add between 1 and %(max)d copies at once."),
}


@bp.app_template_global()
def record_status(kind: str, status: str) -> str:
    """A record's state in the page's language: `record_status("item", "on_loan")`."""
    words = {
        "item": ITEM_STATUS,
        "patron": PATRON_STATUS,
        "hold": HOLD_STATUS,
        "case": CASE_STATUS,
        "case_reason": CASE_REASON,
    }[kind]
    return str(gettext(words[status])) if status in words else status


def _refused(outcome: EditOutcome, **fields: Any) -> None:
    flash(gettext(OUTCOME_MESSAGES[outcome], max=records.MAX_NEW_COPIES, **fields))


def _page_arg() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def _desk_url(patron_id: int) -> str | None:
    """The desk page with this student signed in, when the desk is part of this console."""
    try:
        return url_for("desk.page", patron=patron_id)
    except BuildError:
        return None


# --- find ---------------------------------------------------------------------------------------


@bp.get("/find")
@requires(Permission.SEARCH)
def find() -> Any:
    """The box on every page: an exact card, student number, barcode or ISBN opens its record;
    anything else lists what it finds, students, copies and titles apart."""
    query = request.args.get("q", "")[:MAX_QUERY_CHARS].strip()
    found = records.find(get_db(), query) if query else records.Found(None)
    if found.exact is not None:
        target = {
            RecordKind.PATRON: "records.patron",
            RecordKind.ITEM: "records.item",
            RecordKind.TITLE: "records.title",
        }[found.exact.kind]
        return redirect(url_for(target, record_id=found.exact.id))
    return render_template("central/records/find.html", query=query, found=found)


# --- a student ----------------------------------------------------------------------------------


def _render_patron(
    patron_id: int,
    *,
    block_form: BlockForm | None = None,
    contact_form: ContactForm | None = None,
    status: int = 200,
) -> Any:
    svc = services()
    record = records.patron_record(
        get_db(),
        patron_id,
        chase_policy(svc.settings),
        svc.clock(),
        history_page=_page_arg(),
    )
    if record is None:
        abort(404)
    patron = record.patron
    show_contact = can(Permission.VIEW_CONTACTS)
    if contact_form is None and show_contact:
        contact_form = ContactForm(
            formdata=None,
            parent_name=patron.parent_name,
            parent_phone=patron.parent_phone,
            parent_email=patron.parent_email,
        )
    page = render_template(
        "central/records/patron.html",
        record=record,
        patron=patron,
        show_contact=show_contact,
        block_form=block_form or BlockForm(formdata=None),
        unblock_form=UnblockForm(formdata=None),
        contact_form=contact_form,
        desk_url=_desk_url(patron.id),
        yuan=yuan_text,
    )
    return page, status


@bp.get("/patrons/<int:record_id>")
@requires(Permission.VIEW_RECORDS)
def patron(record_id: int) -> Any:
    return _render_patron(record_id)


@bp.post("/patrons/<int:record_id>/block")
@requires(Permission.EDIT_RECORDS)
def block(record_id: int) -> Any:
    form = BlockForm()
    if not form.validate():
        return _render_patron(record_id, block_form=form, status=400)
    db = get_db()
    reason = form.reason.data or ""
    outcome = records.block_patron(db, record_id, reason, services().clock())
    if outcome is EditOutcome.NOT_FOUND:
        abort(404)
    if outcome is EditOutcome.DONE:
        audit("patron.block", f"patron:{record_id}", {"reason": " ".join(reason.split())})
        db.commit()
        log.info("patron id %s blocked", record_id)
        flash(gettext("Card blocked. The kiosks refuse it after their next sync."))
    else:
        _refused(outcome)
    return redirect(url_for("records.patron", record_id=record_id))


@bp.post("/patrons/<int:record_id>/unblock")
@requires(Permission.EDIT_RECORDS)
def unblock(record_id: int) -> BaseResponse:
    UnblockForm().validate()
    db = get_db()
    outcome = records.unblock_patron(db, record_id, services().clock())
    if outcome is EditOutcome.NOT_FOUND:
        abort(404)
    if outcome is EditOutcome.DONE:
        audit("patron.unblock", f"patron:{record_id}")
        db.commit()
        log.info("patron id %s unblocked", record_id)
        flash(gettext("Card unblocked. The kiosks accept it after their next sync."))
    else:
        _refused(outcome)
    return redirect(url_for("records.patron", record_id=record_id))


@bp.post("/patrons/<int:record_id>/contact")
@requires(Permission.EDIT_RECORDS)
def contact(record_id: int) -> Any:
    if not can(Permission.VIEW_CONTACTS):
        abort(403)
    form = ContactForm()
    if not form.validate():
        return _render_patron(record_id, contact_form=form, status=400)
    db = get_db()
    new = Contact(
        form.parent_name.data or "", form.parent_phone.data or "", form.parent_email.data or ""
    )
    edited = records.edit_contact(db, record_id, new, services().clock())
    if edited.outcome is EditOutcome.NOT_FOUND:
        abort(404)
    outcome = edited.outcome
    if outcome is EditOutcome.DONE:
        # Which details changed, not their values: the audit log is no copy of parents' data.
        audit("patron.contact", f"patron:{record_id}", {"changed": sorted(edited.changes)})
        db.commit()
        flash(gettext("Contact details saved."))
    else:
        _refused(outcome)
    return redirect(url_for("records.patron", record_id=record_id))


# --- a copy and a title -------------------------------------------------------------------------


def _render_item(record_id: int, *, form: CopyForm | None = None, status: int = 200) -> Any:
    svc = services()
    record = records.item_record(
        get_db(), record_id, chase_policy(svc.settings), svc.clock(), history_page=_page_arg()
    )
    if record is None:
        abort(404)
    form = form or CopyForm(
        formdata=None,
        barcode=record.item.barcode,
        location=record.item.location,
        call_number=record.title.call_number,
    )
    return render_template("central/records/item.html", record=record, form=form), status


@bp.get("/items/<int:record_id>")
@requires(Permission.VIEW_RECORDS)
def item(record_id: int) -> Any:
    return _render_item(record_id)


@bp.post("/items/<int:record_id>")
@requires(Permission.EDIT_RECORDS)
def edit_item(record_id: int) -> Any:
    form = CopyForm()
    if not form.validate():
        return _render_item(record_id, form=form, status=400)
    svc = services()
    db = get_db()
    wanted = CopyChanges(
        form.barcode.data or "", form.location.data or "", form.call_number.data or ""
    )
    edited = records.edit_item(db, record_id, wanted, barcode_rules(svc.settings), svc.clock())
    if edited.outcome is EditOutcome.NOT_FOUND:
        abort(404)
    if edited.outcome is EditOutcome.UNCHANGED:
        _refused(edited.outcome)
        return redirect(url_for("records.item", record_id=record_id))
    if edited.outcome is not EditOutcome.DONE:
        barcode = records.normalise_barcode(wanted.barcode)
        flash(gettext(OUTCOME_MESSAGES[edited.outcome], barcode=barcode))
        return _render_item(record_id, form=form, status=409)
    audit("item.edit", f"item:{record_id}", {k: list(v) for k, v in edited.changes.items()})
    db.commit()
    flash(gettext("Copy saved. The kiosks learn it on their next sync."))
    return redirect(url_for("records.item", record_id=record_id))


def _render_title(record_id: int, *, form: AddCopiesForm | None = None, status: int = 200) -> Any:
    svc = services()
    record = records.title_record(get_db(), record_id, chase_policy(svc.settings), svc.clock())
    if record is None:
        abort(404)
    form = form or AddCopiesForm(
        formdata=None, location=record.copies[0].location if record.copies else ""
    )
    return render_template("central/records/title.html", record=record, form=form), status


@bp.get("/titles/<int:record_id>")
@requires(Permission.VIEW_RECORDS)
def title(record_id: int) -> Any:
    return _render_title(record_id)


@bp.post("/titles/<int:record_id>/copies")
@requires(Permission.EDIT_RECORDS)
def add_copies(record_id: int) -> Any:
    form = AddCopiesForm()
    if not form.validate():
        return _render_title(record_id, form=form, status=400)
    svc = services()
    db = get_db()
    added: AddedCopies = records.add_copies(
        db,
        record_id,
        barcodes=form.barcode_list(),
        count=form.count.data or 0,
        location=form.location.data or "",
        rules=barcode_rules(svc.settings),
        now=svc.clock(),
    )
    if added.outcome is EditOutcome.NOT_FOUND:
        abort(404)
    if added.outcome is not EditOutcome.DONE:
        flash(
            gettext(
                OUTCOME_MESSAGES[added.outcome],
                barcode="、".join(added.refused),
                max=records.MAX_NEW_COPIES,
            )
        )
        return _render_title(record_id, form=form, status=409)
    audit("item.add", f"title:{record_id}", {"barcodes": list(added.barcodes)})
    db.commit()
    flash(
        gettext(
            "Added %(n)d copies: %(barcodes)s. Print their labels.",
            n=len(added.barcodes),
            barcodes=" ".join(added.barcodes),
        )
    )
    return redirect(url_for("records.title", record_id=record_id))
