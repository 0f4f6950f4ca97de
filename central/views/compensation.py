"""Console pages for a copy's desk state (lost, found, damaged, withdrawn) and compensation cases."""

from __future__ import annotations

import logging
import zoneinfo
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext  # type: ignore[import-untyped]  # ships no type hints
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, Length

from central.compensation import (
    DeskRefusal,
    cases_of_item,
    change_copy,
    list_cases,
    returned_after_loss,
    settle_case,
)
from central.compensation_receipt import ReceiptFacts, case_number, receipt_pdf
from central.context import get_db, services
from central.desk import open_loan_of
from central.pdf import MissingCJKFont
from central.permissions import Permission
from central.views.guard import audit, can, current_user, requires
from db.central_models import CompensationCase
from db.models import Item
from kiosk.circulation.compensation import SETTLING_ACTIONS, CaseAction, CaseStatus, yuan_text
from kiosk.circulation.states import DESK_EVENTS, CopyEvent, desk_operations_for
from kiosk.config import school_name

log = logging.getLogger(__name__)

bp = Blueprint("compensation", __name__)

# The audit log's action for each desk operation and each settlement.
OPERATION_ACTIONS = {
    CopyEvent.MARKED_LOST: "item.lost",
    CopyEvent.FOUND: "item.found",
    CopyEvent.DAMAGED: "item.damaged",
    CopyEvent.REPAIRED: "item.repaired",
    CopyEvent.WITHDRAWN: "item.withdrawn",
}
SETTLE_ACTIONS = {
    CaseAction.PAY: "compensation.paid",
    CaseAction.WAIVE: "compensation.waived",
    CaseAction.REPLACE: "compensation.replaced",
}
# Who may settle a case which way: waiving is its own permission (helpers have neither).
SETTLE_PERMISSIONS = {
    CaseAction.PAY: Permission.COMPENSATION,
    CaseAction.REPLACE: Permission.COMPENSATION,
    CaseAction.WAIVE: Permission.WAIVE,
}

# Buttons and words, English msgids translated in loss.po.
OPERATION_LABELS = {
    CopyEvent.MARKED_LOST: _l("Mark lost"),
    CopyEvent.FOUND: _l("Found"),
    CopyEvent.DAMAGED: _l("Damaged: to repair"),
    CopyEvent.REPAIRED: _l("Repaired: back to the shelf"),
    CopyEvent.WITHDRAWN: _l("Withdraw"),
}
STATUS_LABELS = {
    "available": _l("On the shelf"),
    "on_loan": _l("On loan"),
    "on_hold_shelf": _l("On the hold shelf"),
    "lost": _l("Lost"),
    "withdrawn": _l("Withdrawn"),
    "in_repair": _l("In repair"),
}
CASE_STATUS_LABELS = {
    CaseStatus.OPEN: _l("Open"),
    CaseStatus.PAID: _l("Paid"),
    CaseStatus.WAIVED: _l("Waived"),
    CaseStatus.REPLACED: _l("Replaced"),
    CaseStatus.CANCELLED: _l("Cancelled: book found"),
    CaseStatus.REFUNDED: _l("Refunded: book found"),
}
REASON_LABELS = {"lost": _l("Lost"), "damaged": _l("Damaged")}
BASIS_LABELS = {
    "price": _l("from the list price"),
    "minimum": _l("the minimum amount"),
    "fixed": _l("a fixed amount"),
    "no_price": _l("no list price: a fixed amount"),
}
SETTLE_LABELS = {
    CaseAction.PAY: _l("Record payment"),
    CaseAction.REPLACE: _l("Replaced with the same book"),
    CaseAction.WAIVE: _l("Waive"),
}


class CopyOperationForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    operation = HiddenField(validators=[AnyOf([e.value for e in DESK_EVENTS])])
    note = StringField(validators=[Length(max=500)])


class SettleForm(FlaskForm):  # type: ignore[misc]
    action = HiddenField(validators=[AnyOf([a.value for a in SETTLING_ACTIONS])])
    note = StringField(validators=[Length(max=500)])


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(services().settings.circulation.timezone)


def _item_or_404(barcode: str) -> Item:
    item = get_db().scalar(select(Item).where(Item.barcode == barcode[:64]))
    if item is None:
        abort(404)
    return item


def _case_or_404(case_id: int) -> CompensationCase:
    case = get_db().get(CompensationCase, case_id)
    if case is None:
        abort(404)
    return case


def _labels() -> dict[str, Any]:
    return {
        "operation_labels": OPERATION_LABELS,
        "status_labels": STATUS_LABELS,
        "case_status_labels": CASE_STATUS_LABELS,
        "reason_labels": REASON_LABELS,
        "basis_labels": BASIS_LABELS,
        "settle_labels": SETTLE_LABELS,
        "yuan": yuan_text,
        "case_number": lambda case: case_number(case.id, case.recorded_at, _zone()),
    }


@bp.get("/copies/<barcode>/state")
@requires(Permission.VIEW_RECORDS)
def copy_state(barcode: str) -> str:
    item = _item_or_404(barcode)
    db = get_db()
    return render_template(
        "central/compensation/copy.html",
        item=item,
        loan=open_loan_of(db, item.id),
        operations=desk_operations_for(item.status),
        cases=cases_of_item(db, item.id),
        form=CopyOperationForm(),
        **_labels(),
    )


@bp.post("/copies/<barcode>/state")
@requires(Permission.EDIT_RECORDS)
def change_copy_state(barcode: str) -> BaseResponse:
    item = _item_or_404(barcode)
    form = CopyOperationForm()
    if not form.validate():
        flash(gettext("That change could not be read. Please try again."))
        return redirect(url_for(".copy_state", barcode=item.barcode))
    operation = CopyEvent(form.operation.data)
    db = get_db()
    change = change_copy(
        db,
        item,
        operation,
        at=services().clock(),
        by=_username(),
        policy=services().settings.compensation.policy(),
        note=form.note.data or "",
    )
    if change.refusal is not None:
        db.rollback()
        flash(
            gettext("A copy that is %(status)s can't be changed that way.")
            % {"status": STATUS_LABELS.get(change.status_before, change.status_before)}
        )
        return redirect(url_for(".copy_state", barcode=item.barcode))
    audit(
        OPERATION_ACTIONS[operation],
        f"item:{item.barcode}",
        {"from": change.status_before, "to": change.status_after, "loan": change.loan_uuid},
    )
    if change.case is not None:
        db.flush()
        audit(
            "compensation.open",
            f"compensation:{change.case.id}",
            {
                "item": item.barcode,
                "reason": change.case.reason,
                "amount_fen": change.case.amount_fen,
            },
        )
    for reversed_case in change.reversed_cases:
        audit(
            "compensation.reversed",
            f"compensation:{reversed_case.id}",
            {"item": item.barcode, "status": reversed_case.status},
        )
    db.commit()
    log.info("item %s: %s → %s", item.id, change.status_before, change.status_after)
    flash(
        gettext("%(barcode)s is now: %(status)s.")
        % {"barcode": item.barcode, "status": STATUS_LABELS[change.status_after]}
    )
    if change.case is not None:
        return redirect(url_for(".case", case_id=change.case.id))
    return redirect(url_for(".copy_state", barcode=item.barcode))


def _username() -> str:
    user = current_user()
    assert user is not None  # requires() let only a signed-in user in
    return user.username


@bp.get("/compensation")
@requires(Permission.VIEW_RECORDS)
def cases() -> str:
    status = request.args.get("status", "open")
    if status not in {s.value for s in CaseStatus} and status != "all":
        status = "open"
    rows = list_cases(get_db(), None if status == "all" else status)
    return render_template("central/compensation/list.html", cases=rows, status=status, **_labels())


@bp.get("/compensation/<int:case_id>")
@requires(Permission.VIEW_RECORDS)
def case(case_id: int) -> str:
    row = _case_or_404(case_id)
    db = get_db()
    actions = [
        a for a in SETTLING_ACTIONS if row.status == CaseStatus.OPEN and can(SETTLE_PERMISSIONS[a])
    ]
    return render_template(
        "central/compensation/case.html",
        case=row,
        actions=actions,
        came_back=returned_after_loss(db, row),
        form=SettleForm(),
        **_labels(),
    )


@bp.post("/compensation/<int:case_id>/settle")
@requires(Permission.COMPENSATION)
def settle(case_id: int) -> BaseResponse:
    row = _case_or_404(case_id)
    form = SettleForm()
    if not form.validate():
        flash(gettext("That change could not be read. Please try again."))
        return redirect(url_for(".case", case_id=case_id))
    action = CaseAction(form.action.data)
    if not can(SETTLE_PERMISSIONS[action]):
        abort(403)
    db = get_db()
    refusal = settle_case(
        db, row, action, at=services().clock(), by=_username(), note=form.note.data or ""
    )
    if refusal is DeskRefusal.CASE_SETTLED:
        db.rollback()
        flash(gettext("This case is already settled."))
        return redirect(url_for(".case", case_id=case_id))
    audit(
        SETTLE_ACTIONS[action],
        f"compensation:{row.id}",
        {"item": row.item.barcode, "amount_fen": row.amount_fen},
    )
    db.commit()
    flash(gettext("Recorded: %(status)s.") % {"status": CASE_STATUS_LABELS[CaseStatus(row.status)]})
    return redirect(url_for(".case", case_id=case_id))


@bp.get("/compensation/<int:case_id>/receipt.pdf")
@requires(Permission.COMPENSATION)
def receipt(case_id: int) -> Response:
    row = _case_or_404(case_id)
    settings = services().settings
    zone = _zone()
    facts = ReceiptFacts(
        case_number=case_number(row.id, row.recorded_at, zone),
        school=school_name(settings),
        student_name=row.patron.name,
        class_name=row.patron.class_name,
        title=row.title.title,
        barcode=row.item.barcode,
        reason=row.reason,
        amount_fen=row.amount_fen,
        price_fen=row.price_fen,
        basis=row.basis,
        status=row.status,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        settled_by=row.settled_by,
        settled_at=row.settled_at,
        note=row.note,
    )
    try:
        data = receipt_pdf(facts, zone, services().clock())
    except MissingCJKFont as exc:
        log.error("receipt not made: %s", exc)
        message = gettext(
            "The receipt can't be made: the server has no Chinese font. "
            "Ask the administrator to run scripts/system-deps.sh fonts."
        )
        return Response(message, status=503, mimetype="text/plain")
    name = f"{facts.case_number}.pdf"
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
