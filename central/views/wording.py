"""What the console says about signing in and its forms, in one place (English msgids; the
Chinese is in central/translations/zh/LC_MESSAGES/console.po)."""

from __future__ import annotations

from flask_babel import gettext, lazy_gettext  # type: ignore[import-untyped]  # no type hints

# Form validation.
USERNAME_REQUIRED = lazy_gettext("Enter your user name.")
PASSWORD_REQUIRED = lazy_gettext("Enter your password.")
TOO_LONG = lazy_gettext("Too long.")

# Signing in.
WRONG_CREDENTIALS = lazy_gettext("Wrong user name or password.")
SIGNED_OUT = lazy_gettext("You are signed out.")
SESSION_ENDED = lazy_gettext("Your session ended: please sign in again.")


def too_many_attempts(wait_s: int) -> str:
    """The sign-in page's answer while failures are throttled; says how long to wait."""
    minutes = max(1, round(wait_s / 60))
    return str(
        gettext("Too many failed sign-ins: try again in %(minutes)s minute(s).", minutes=minutes)
    )


# A form that failed its CSRF check (Flask-WTF's reason → what the librarian can do).
FORM_REFUSED_TITLE = lazy_gettext("This form has expired")
FORM_REFUSED_HINT = lazy_gettext("Go back, reload the page and submit the form again.")
CSRF_REASONS = {
    "The CSRF token is missing.": lazy_gettext("The form's security token is missing."),
    "The CSRF session token is missing.": lazy_gettext(
        "The browser sent no session cookie (are cookies blocked?)."
    ),
    "The CSRF token has expired.": lazy_gettext("The page was open too long."),
    "The CSRF token is invalid.": lazy_gettext("The form's security token is not valid."),
    "The CSRF tokens do not match.": lazy_gettext(
        "The form's security token does not match your session."
    ),
}
CSRF_REASON_OTHER = lazy_gettext("Where the form came from could not be checked.")


# Importing a roster or catalogue in the console.
IMPORT_KIND_REQUIRED = lazy_gettext("Choose what the file holds.")
IMPORT_FILE_REQUIRED = lazy_gettext("Choose a file to upload.")
IMPORT_UPLOAD_GONE = lazy_gettext(
    "The uploaded file is gone (already imported, or the server restarted): upload it again."
)


def import_file_too_big(max_bytes: int) -> str:
    """The upload form's answer to a file over the limit; says the limit and the way round it."""
    mb = max_bytes // (1024 * 1024)
    # Lazy: the upload form is declared before any request says which language to use.
    message: str = lazy_gettext(
        "The file is larger than %(mb)s MB: split it, or import it on the server with "
        "run_kiosk.py import-… --central.",
        mb=mb,
    )
    return message


# Settling exceptions.
EXCEPTION_RESOLVED = lazy_gettext("Exception marked as resolved.")
NO_EVENT_TO_RETRY = lazy_gettext("There is no stored event to retry for this exception.")
EVENT_APPLIED = lazy_gettext("The event was applied.")
SETTLED = lazy_gettext("Settled: the kiosks learn it on their next sync.")
CANNOT_SETTLE = lazy_gettext(
    "This exception can no longer be settled that way (already resolved, or its loans are gone)."
)


def event_still(state: str) -> str:
    """A retried event that still cannot be applied."""
    return str(
        gettext(
            "The event is still %(state)s: check the student list and catalog.",
            state=gettext(state),
        )
    )
