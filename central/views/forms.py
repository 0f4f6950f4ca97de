"""The console's forms (Flask-WTF): what each accepts, with readable messages."""

from __future__ import annotations

from flask_babel import lazy_gettext  # type: ignore[import-untyped]  # no type hints
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

from central.views import wording


class LoginForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type hints
    username = StringField(
        validators=[
            DataRequired(message=wording.USERNAME_REQUIRED),
            Length(max=64, message=wording.TOO_LONG),
        ]
    )
    password = PasswordField(
        validators=[
            DataRequired(message=wording.PASSWORD_REQUIRED),
            Length(max=1024, message=wording.TOO_LONG),
        ]
    )
    # Where to go after signing in; checked to be a local path before use.
    next = HiddenField()


class ResolveForm(FlaskForm):  # type: ignore[misc]
    note = StringField(validators=[Length(max=500, message=wording.TOO_LONG)])


# The largest roster or catalogue file the console takes: a 20 000-row sheet is about 1 MB,
# a 20 000-record MARC file about 20 MB. Bigger files go through the command line.
UPLOAD_MAX_BYTES = 12 * 1024 * 1024


class ImportUploadForm(FlaskForm):  # type: ignore[misc]
    """Step 1 of an import in the console: the file, what it holds; a dry run follows."""

    kind = RadioField(
        choices=[
            SelectChoice("students", lazy_gettext("Roster (students)")),
            SelectChoice("catalog", lazy_gettext("Catalogue (books)")),
        ],
        default="students",
        validators=[InputRequired(message=wording.IMPORT_KIND_REQUIRED)],
    )
    file = FileField(
        validators=[
            FileRequired(message=wording.IMPORT_FILE_REQUIRED),
            FileSize(UPLOAD_MAX_BYTES, message=wording.import_file_too_big(UPLOAD_MAX_BYTES)),
        ]
    )
    sheet = StringField(validators=[Length(max=100, message=wording.TOO_LONG)])
    mark_missing_left = BooleanField()


class ImportConfirmForm(FlaskForm):  # type: ignore[misc]
    """Step 2: import the file the dry run was shown for (kept on the server by its id)."""

    upload = HiddenField(validators=[Regexp(r"^[0-9a-f]{32}$")])


_ROLE_CHOICES = [
    SelectChoice("helper", lazy_gettext("helper")),
    SelectChoice("librarian", lazy_gettext("librarian")),
    SelectChoice("admin", lazy_gettext("admin")),
]


class AddUserForm(FlaskForm):  # type: ignore[misc]
    """An admin adds a console user (or sets a new password and role for an existing one)."""

    username = StringField(
        validators=[
            DataRequired(message=wording.USERNAME_REQUIRED),
            Length(max=64, message=wording.TOO_LONG),
        ]
    )
    password = PasswordField(
        validators=[
            DataRequired(message=wording.PASSWORD_REQUIRED),
            Length(max=1024, message=wording.TOO_LONG),
        ]
    )
    role = SelectField(choices=_ROLE_CHOICES, default="helper")


class UserRoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField(choices=_ROLE_CHOICES)
