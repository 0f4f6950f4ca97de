"""The admins' page of the audit log: newest first, paged, by user and by action."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from central.audit import ACTION_NAMES, audit_page, audit_usernames
from central.context import get_read_db
from central.permissions import Permission
from central.views.guard import requires

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@requires(Permission.AUDIT)
def audit_log() -> str:
    username = request.args.get("user", "")[:64].strip()
    action = request.args.get("action", "")[:64].strip()
    page_number = request.args.get("page", 1, type=int) or 1
    db = get_read_db()
    page = audit_page(db, username=username, action=action, page=page_number)
    return render_template(
        "central/audit.html",
        page=page,
        username=username,
        action=action,
        usernames=audit_usernames(db),
        action_names=ACTION_NAMES,
    )
