"""The console's label page (/labels): choose what to print, see how many sheets, download the PDF."""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import Any

from flask import Blueprint, render_template, request, send_file
from flask_babel import gettext as _  # type: ignore[import-untyped]  # ships no type hints
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    DateField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from central.context import get_db, get_read_db, services
from central.label_sources import (
    CopySelection,
    SheetPlan,
    SheetRequest,
    class_choices,
    plan_sheets,
    split_barcodes,
)
from central.labels import DEFAULT_LAYOUT, LAYOUTS, LabelKind, layouts_for, render_sheets
from central.pdf import MissingCJKFont
from central.permissions import Permission
from central.views.guard import audit, requires
from db.models import Title
from kiosk.circulation.barcodes import to_isbn13
from kiosk.config import school_name

log = logging.getLogger(__name__)

bp = Blueprint("labels", __name__)

# Rows of the preview's list; the PDF has them all.
PREVIEW_ROWS = 30
# Barcodes scanned into the box at once: ten sheets of the smallest labels.
MAX_BARCODES = 650


class LabelsForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    """What to print. Read from the query string for the preview and from the posted form for
    the download; the download's CSRF token is checked by `requires`."""

    class Meta:
        csrf = False

    what = RadioField(
        choices=[
            SelectChoice("needing", _l("Copies that need labels (barcodes the import made up)")),
            SelectChoice("since", _l("Copies added since a day")),
            SelectChoice("title", _l("Every copy of one title")),
            SelectChoice("barcodes", _l("These copies (scan or type their barcodes)")),
            SelectChoice("class", _l("Library cards for a class")),
        ],
        default="needing",
        validators=[InputRequired(message=_l("Choose what to print."))],
    )
    kind = RadioField(
        choices=[
            SelectChoice("accession", _l("Book labels (barcode, call number)")),
            SelectChoice("spine", _l("Spine labels (call number)")),
        ],
        # Not required: a class's cards ignore it, and a form without it prints book labels.
        default="accession",
    )
    since = DateField(validators=[Optional()], format="%Y-%m-%d")
    isbn = StringField(validators=[Optional()])
    barcodes = TextAreaField(
        validators=[
            Optional(),
            Length(max=MAX_BARCODES * 20, message=_l("Too many barcodes for one sheet request.")),
        ]
    )
    title_id = IntegerField(validators=[Optional()])
    class_key = SelectField(validate_choice=False)
    layout = SelectField(
        choices=[
            SelectChoice(layout.name, layout.description)
            for layout in layouts_for(LabelKind.ACCESSION)
        ],
        default=DEFAULT_LAYOUT[LabelKind.ACCESSION],
    )
    start = IntegerField(
        default=1,
        validators=[
            InputRequired(message=_l("Give the first free label's number.")),
            NumberRange(min=1, message=_l("The first free label is counted from 1.")),
        ],
    )


def _form(formdata: Any) -> LabelsForm:
    form = LabelsForm(formdata=formdata)
    form.class_key.choices = [
        SelectChoice(choice.key, choice.label) for choice in class_choices(get_read_db())
    ]
    return form


def _request_of(form: LabelsForm) -> tuple[SheetRequest | None, list[str]]:
    """The sheet the form asks for, or the reasons it asks for none (in the page's language)."""
    errors: list[str] = [str(message) for field in form for message in field.errors]
    if errors:
        return None, errors
    what = form.what.data
    if what == "class":
        kind = LabelKind.CARD
        layout = DEFAULT_LAYOUT[kind]
    else:
        kind = LabelKind(form.kind.data)
        layout = form.layout.data
    per_sheet = LAYOUTS[layout].per_sheet
    if form.start.data > per_sheet:
        return None, [
            _("This sheet has %(count)s labels: start from 1 to %(count)s.", count=per_sheet)
        ]
    copies = CopySelection()
    class_text = ""
    if what == "needing":
        copies = CopySelection(needing_labels=True)
    elif what == "since":
        if form.since.data is None:
            return None, [_("Give the day the copies were added from.")]
        copies = CopySelection(added_since=form.since.data)
    elif what == "barcodes":
        codes = split_barcodes(form.barcodes.data or "")
        if not codes:
            return None, [_("Scan or type the barcodes of the copies to label.")]
        if len(codes) > MAX_BARCODES:
            return None, [_("Too many barcodes for one sheet request.")]
        copies = CopySelection(barcodes=tuple(codes))
    elif what == "title":
        title_id = form.title_id.data or _title_by_isbn(form.isbn.data or "")
        if title_id is None:
            return None, [_("Give the ISBN of a title in the catalogue.")]
        copies = CopySelection(title_id=title_id)
    else:
        class_text = form.class_key.data or ""
        if not class_text:
            return None, [_("Choose a class.")]
    return SheetRequest(kind, layout, form.start.data, copies, class_text), []


def _title_by_isbn(text: str) -> int | None:
    isbn13 = to_isbn13(text.strip())
    if isbn13 is None:
        return None
    title_id: int | None = get_read_db().scalar(select(Title.id).where(Title.isbn13 == isbn13))
    return title_id


def _plan(sheet: SheetRequest) -> tuple[SheetPlan, list[str]]:
    settings = services().settings
    plan = plan_sheets(
        get_read_db(),
        sheet,
        timezone=settings.circulation.timezone,
        # A card has room for the school's full name; a book label only for its short one.
        school=school_name(settings, short=sheet.kind is not LabelKind.CARD),
    )
    problems = []
    if plan.unknown:
        problems.append(
            _(
                "No copy (or only a withdrawn one) has these barcodes: %(codes)s",
                codes=", ".join(plan.unknown),
            )
        )
    elif not plan.labels:
        if sheet.kind is LabelKind.CARD:
            problems.append(_("This class has no students still at school."))
        else:
            problems.append(_("No copies match: nothing to print."))
    if plan.no_call_number and not plan.labels:
        problems.append(
            _(
                "These copies have no call number, so they get no spine label: %(codes)s",
                codes=", ".join(plan.no_call_number),
            )
        )
    if plan.too_long:
        problems.append(
            _(
                "These barcodes are too long for this label size; choose a larger label: %(codes)s",
                codes=", ".join(plan.too_long),
            )
        )
    return plan, problems


def _page(form: LabelsForm, plan: SheetPlan | None, errors: list[str], status: int = 200) -> Any:
    layout = LAYOUTS[plan.request.layout] if plan is not None else None
    notes = []
    if plan is not None and plan.labels and plan.no_call_number:
        notes.append(
            _(
                "These copies have no call number, so they get no spine label: %(codes)s",
                codes=", ".join(plan.no_call_number),
            )
        )
    return render_template(
        "central/labels/labels.html",
        form=form,
        notes=notes,
        plan=plan,
        layout=layout,
        errors=errors,
        preview_rows=PREVIEW_ROWS,
    ), status


@bp.get("/labels")
@requires(Permission.LABELS)
def labels_page() -> Any:
    """The form, filled from the query string when a link chose something (?what=title&title_id=5)."""
    return _page(_form(request.args if "what" in request.args else None), None, [])


@bp.post("/labels")
@requires(Permission.LABELS)
def labels_preview() -> Any:
    """How many labels on how many sheets, and where on the first. Posted, so the form's CSRF
    token (needed by the download button of the same form) never lands in a URL."""
    form = _form(request.form)
    form.validate()
    sheet, errors = _request_of(form)
    if sheet is None:
        return _page(form, None, errors, 400)
    plan, problems = _plan(sheet)
    return _page(form, plan, problems, 200 if not problems else 400)


@bp.post("/labels/pdf")
@requires(Permission.LABELS)
def labels_pdf() -> Any:
    """The PDF of what the form asks for, as a download; recorded in the audit log."""
    form = _form(request.form)
    form.validate()
    sheet, errors = _request_of(form)
    if sheet is None:
        return _page(form, None, errors, 400)
    plan, problems = _plan(sheet)
    if problems:
        return _page(form, plan, problems, 400)
    try:
        pdf = render_sheets(sheet.kind, plan.labels, LAYOUTS[sheet.layout], start=sheet.start)
    except MissingCJKFont:
        log.error("label sheet refused: no CJK font on the server")
        message = _(
            "The server has no Chinese font, so no PDF can be made. Ask the administrator to run scripts/system-deps.sh fonts."
        )
        return _page(form, plan, [message], 500)
    selection = _selection_words(form)
    audit(
        "labels.print",
        f"{sheet.kind}:{selection}",
        {
            "layout": sheet.layout,
            "start": sheet.start,
            "labels": len(plan.labels),
            "sheets": plan.sheets,
        },
    )
    get_db().commit()
    log.info("label sheet: %s, %d labels on %s", sheet.kind, len(plan.labels), sheet.layout)
    today = services().clock().date().isoformat()
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{sheet.kind}-{form.what.data}-{today}.pdf",
    )


def _selection_words(form: LabelsForm) -> str:
    """What was selected, for the audit log: never a student's card number."""
    what = str(form.what.data)
    if what == "since" and isinstance(form.since.data, dt.date):
        return f"since {form.since.data.isoformat()}"
    if what == "barcodes":
        return f"{len(split_barcodes(form.barcodes.data or ''))} barcodes"
    if what == "title":
        return f"title {form.title_id.data or (form.isbn.data or '').strip()}"
    if what == "class":
        return f"class {form.class_key.data}"
    return what
