"""Console pages to import a roster or catalogue: upload, see the dry run, confirm, see the result."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import g, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from central.context import get_db, services
from central.permissions import Permission
from central.views import wording
from central.views.console import bp
from central.views.forms import UPLOAD_MAX_BYTES, ImportConfirmForm, ImportUploadForm
from central.views.guard import audit, requires
from kiosk.importing.catalog import import_catalog
from kiosk.importing.files import UnreadableFile
from kiosk.importing.roster import import_roster

log = logging.getLogger(__name__)

# Uploaded files wait here between the dry run and the confirmation. They hold students'
# names, so only this process's user may read them, and the confirmation deletes them.
UPLOAD_FOLDER = Path(tempfile.gettempdir()) / "shuxiang-imports"
_KEEP_S = 24 * 3600


@bp.get("/imports")
@requires(Permission.IMPORT)
def imports() -> Any:
    return render_template("central/imports.html", form=ImportUploadForm())


@bp.post("/imports")
@requires(Permission.IMPORT)
def import_dry_run() -> Any:
    """Keep the file, import it in a rolled-back dry run, show the table and a confirm button."""
    form = ImportUploadForm()
    if not form.validate_on_submit():
        return render_template("central/imports.html", form=form), 400
    data = form.file.data.read()
    name = Path(form.file.data.filename or "upload").name
    options = {
        "kind": form.kind.data,
        "sheet": (form.sheet.data or "").strip() or None,
        "mark_missing_left": bool(form.mark_missing_left.data),
        "name": name,
    }
    result, error = _run(data, options, dry_run=True)
    if error is not None:
        return render_template("central/imports.html", form=form, error=error), 400
    upload = secrets.token_hex(16)
    _store(upload, data, options)
    log.info("console import dry run of a %s file by user id %s", options["kind"], g.user.id)
    return render_template(
        "central/import_result.html",
        result=result,
        options=options,
        confirm=ImportConfirmForm(upload=upload),
    )


@bp.post("/imports/confirm")
@requires(Permission.IMPORT)
def import_confirm() -> Any:
    """Import the file the dry run was shown for, for real; show the result with every rejection."""
    form = ImportConfirmForm()
    loaded = _load(form.upload.data) if form.validate_on_submit() else None
    if loaded is None:
        return render_template(
            "central/imports.html", form=ImportUploadForm(), error=wording.IMPORT_UPLOAD_GONE
        ), 400
    data, options = loaded
    result, error = _run(data, options, dry_run=False)
    if error is not None:
        return render_template("central/imports.html", form=ImportUploadForm(), error=error), 400
    _discard(form.upload.data)
    summary = result.summary
    audit(
        f"import.{options['kind']}",
        f"file:{options['name']}",
        {
            "read": summary.read,
            "added": summary.added,
            "updated": summary.updated,
            "rejected": summary.rejected,
        },
    )
    get_db().commit()
    log.info("console import of a %s file by user id %s", options["kind"], g.user.id)
    return render_template("central/import_result.html", result=result, options=options)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Any:
    if request.endpoint != "console.import_dry_run":
        return error
    form = ImportUploadForm(formdata=None)
    page = render_template(
        "central/imports.html", form=form, error=wording.import_file_too_big(UPLOAD_MAX_BYTES)
    )
    return page, 413


def _run(data: bytes, options: dict[str, Any], *, dry_run: bool) -> tuple[Any, str | None]:
    """The CLI's import code on the central's database; (result, None) or (None, why not)."""
    svc = services()
    try:
        if options["kind"] == "students":
            result: Any = import_roster(
                svc.settings,
                data,
                options["name"],
                mark_missing_left=options["mark_missing_left"],
                session_factory=svc.session_factory,
                dry_run=dry_run,
                sheet=options["sheet"],
            )
        else:
            result = import_catalog(
                svc.settings,
                data,
                options["name"],
                session_factory=svc.session_factory,
                dry_run=dry_run,
                sheet=options["sheet"],
            )
    except UnreadableFile as exc:
        return None, f"{exc} — nothing imported."
    if result.failure is not None:
        return None, result.failure
    return result, None


def _store(upload: str, data: bytes, options: dict[str, Any]) -> None:
    UPLOAD_FOLDER.mkdir(mode=0o700, exist_ok=True)
    # Dry runs never confirmed leave their files behind; a day is long enough to decide.
    stale = time.time() - _KEEP_S
    for old in UPLOAD_FOLDER.iterdir():
        if old.stat().st_mtime < stale:
            old.unlink(missing_ok=True)
    meta = "\n".join(
        [
            options["kind"],
            options["sheet"] or "",
            "1" if options["mark_missing_left"] else "",
            options["name"],
        ]
    )
    for suffix, content in ((".data", data), (".meta", meta.encode())):
        fd = os.open(
            UPLOAD_FOLDER / f"{upload}{suffix}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)


def _load(upload: str) -> tuple[bytes, dict[str, Any]] | None:
    try:
        data = (UPLOAD_FOLDER / f"{upload}.data").read_bytes()
        kind, sheet, mark, name = (UPLOAD_FOLDER / f"{upload}.meta").read_text().split("\n")
    except (OSError, ValueError):
        return None
    return data, {
        "kind": kind,
        "sheet": sheet or None,
        "mark_missing_left": bool(mark),
        "name": name,
    }


def _discard(upload: str) -> None:
    for suffix in (".data", ".meta"):
        (UPLOAD_FOLDER / f"{upload}{suffix}").unlink(missing_ok=True)
