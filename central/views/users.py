"""The admins' page of console users: list, add, change a role, disable or enable; all audited."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext  # type: ignore[import-untyped]  # ships no type hints
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from central.auth import add_user, check_password_strength, find_user, set_user_disabled
from central.context import get_db, services
from central.permissions import Permission
from central.views.forms import AddUserForm, UserRoleForm
from central.views.guard import audit, requires
from db.central_models import StaffRole, StaffUser

log = logging.getLogger(__name__)

bp = Blueprint("users", __name__)


def _page(form: AddUserForm | None = None, status: int = 200) -> tuple[str, int]:
    users = list(get_db().scalars(select(StaffUser).order_by(StaffUser.username)))
    page = render_template(
        "central/users.html",
        users=users,
        form=form or AddUserForm(formdata=None),
        role_form=UserRoleForm(formdata=None),
    )
    return page, status


@bp.get("/users")
@requires(Permission.MANAGE_USERS)
def users() -> tuple[str, int]:
    return _page()


@bp.post("/users")
@requires(Permission.MANAGE_USERS)
def add() -> Any:
    """A new console user (or, for an existing name, a new password and role)."""
    form = AddUserForm()
    if not form.validate():
        return _page(form, 400)
    username = form.username.data.strip()
    problem = check_password_strength(form.password.data)
    if problem is not None:
        form.password.errors.append(gettext("Use at least 8 characters."))
        return _page(form, 400)
    db = get_db()
    existed = find_user(db, username) is not None
    if existed and not _leaves_an_admin(db, find_user(db, username), role=form.role.data):
        form.role.errors.append(gettext("The console must keep at least one admin."))
        return _page(form, 400)
    user = add_user(db, username, form.password.data, form.role.data, services().clock())
    audit("user.password" if existed else "user.add", f"user:{user.username}", {"role": user.role})
    db.commit()
    log.info("console user id %s saved by user id %s", user.id, g.user.id)
    flash(gettext("Saved: %(name)s (%(role)s).", name=user.username, role=gettext(user.role)))
    return redirect(url_for("users.users"))


def _user(user_id: int) -> StaffUser:
    user = get_db().get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


def _leaves_an_admin(
    db: Any, user: StaffUser | None, *, role: str | None = None, disabled: bool = False
) -> bool:
    """Whether the console still has an enabled admin after `user` changes so."""
    if user is None or user.role != StaffRole.ADMIN or user.disabled:
        return True
    if role == StaffRole.ADMIN and not disabled:
        return True
    others = db.scalar(
        select(func.count(StaffUser.id)).where(
            StaffUser.role == StaffRole.ADMIN,
            StaffUser.disabled.is_(False),
            StaffUser.id != user.id,
        )
    )
    return bool(others)


@bp.post("/users/<int:user_id>/role")
@requires(Permission.MANAGE_USERS)
def change_role(user_id: int) -> BaseResponse:
    form = UserRoleForm()
    user = _user(user_id)
    if not form.validate():
        abort(400)
    db = get_db()
    if not _leaves_an_admin(db, user, role=form.role.data):
        flash(gettext("The console must keep at least one admin."))
        return redirect(url_for("users.users"))
    before = user.role
    if before != form.role.data:
        user.role = form.role.data
        audit("user.role", f"user:{user.username}", {"from": before, "to": user.role})
        db.commit()
    flash(gettext("Saved: %(name)s (%(role)s).", name=user.username, role=gettext(user.role)))
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/disable")
@requires(Permission.MANAGE_USERS)
def disable(user_id: int) -> BaseResponse:
    user = _user(user_id)
    db = get_db()
    if not _leaves_an_admin(db, user, disabled=True):
        flash(gettext("The console must keep at least one admin."))
        return redirect(url_for("users.users"))
    ended = set_user_disabled(db, user, True)
    audit("user.disable", f"user:{user.username}", {"sessions_ended": ended})
    db.commit()
    flash(gettext("%(name)s can no longer sign in.", name=user.username))
    return redirect(url_for("users.users"))


@bp.post("/users/<int:user_id>/enable")
@requires(Permission.MANAGE_USERS)
def enable(user_id: int) -> BaseResponse:
    user = _user(user_id)
    db = get_db()
    set_user_disabled(db, user, False)
    audit("user.enable", f"user:{user.username}")
    db.commit()
    flash(gettext("%(name)s may sign in again.", name=user.username))
    return redirect(url_for("users.users"))
