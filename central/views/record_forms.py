"""The records pages' forms (Flask-WTF): block, contact, a copy's details, new copies."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l  # type: ignore[import-untyped]  # ships no type hints
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from central.records import (
    BARCODE_CHARS,
    BLOCK_REASON_CHARS,
    CALL_NUMBER_CHARS,
    LOCATION_CHARS,
    MAX_NEW_COPIES,
)
from db.models import Patron, width_of

TOO_LONG = _l("Too long: at most %(max)d characters.")


class BlockForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    reason = StringField(
        validators=[
            DataRequired(message=_l("Give the reason: the student is told it at the kiosk.")),
            Length(max=BLOCK_REASON_CHARS, message=TOO_LONG),
        ]
    )


class UnblockForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: unblocking asks nothing more."""


class ContactForm(FlaskForm):  # type: ignore[misc]
    parent_name = StringField(
        validators=[Length(max=width_of(Patron.parent_name), message=TOO_LONG)]
    )
    parent_phone = StringField(
        validators=[
            Length(max=width_of(Patron.parent_phone), message=TOO_LONG),
            # Mobile and landline numbers as people write them: 138 0013 8000, 010-12345678.
            Regexp(
                r"^[0-9+\-() ]*$",
                message=_l("A phone number has only digits, spaces, +, - and brackets."),
            ),
        ]
    )
    parent_email = StringField(
        validators=[
            Length(max=width_of(Patron.parent_email), message=TOO_LONG),
            Regexp(
                r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
                message=_l("This is not an e-mail address (name@example.cn)."),
            ),
        ]
    )


class CopyForm(FlaskForm):  # type: ignore[misc]
    barcode = StringField(
        validators=[
            DataRequired(message=_l("A copy needs its barcode.")),
            Length(max=BARCODE_CHARS, message=TOO_LONG),
        ]
    )
    location = StringField(validators=[Length(max=LOCATION_CHARS, message=TOO_LONG)])
    call_number = StringField(validators=[Length(max=CALL_NUMBER_CHARS, message=TOO_LONG)])


class AddCopiesForm(FlaskForm):  # type: ignore[misc]
    """Either the new copies' barcodes (scanned one per line), or how many to number."""

    barcodes = TextAreaField(validators=[Length(max=MAX_NEW_COPIES * (BARCODE_CHARS + 2))])
    count = IntegerField(
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_NEW_COPIES,
                message=_l("Between %(min)d and %(max)d copies at once."),
            ),
        ]
    )
    location = StringField(validators=[Length(max=LOCATION_CHARS, message=TOO_LONG)])

    def barcode_list(self) -> list[str]:
        return (self.barcodes.data or "").split()
