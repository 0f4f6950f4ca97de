"""The console's forms (Flask-WTF): what each accepts, with readable messages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

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
