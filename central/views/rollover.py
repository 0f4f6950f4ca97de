"""The school-year rollover in the console: the preview (/rollover), then apply it (audited)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext  # type: ignore[import-untyped]  # ships no type hints
from werkzeug.wrappers import Response as BaseResponse

from central.context import get_db, get_read_db, services
from central.permissions import Permission
from central.rollover import apply_rollover, plan_rollover
from central.views.guard import audit, current_user, requires
from kiosk.circulation.schoolyear import MAX_GRADE, class_label
from kiosk.policies import chase_policy

bp = Blueprint("rollover", __name__)


def _top_grade() -> int | None:
    value = request.values.get("top_grade", type=int)
    return value if value is not None and 1 <= value <= MAX_GRADE else None


@bp.get("/rollover")
@requires(Permission.IMPORT)
def preview() -> str:
    """What the rollover would do: each class's move, the leavers, their unreturned books."""
    svc = services()
    policy = chase_policy(svc.settings)
    plan = plan_rollover(
        get_read_db(), svc.settings.school.calendar(), policy, svc.clock(), top_grade=_top_grade()
    )
    return render_template(
        "central/chase/rollover.html",
        plan=plan,
        class_label=class_label,
        grades=range(1, MAX_GRADE + 1),
    )


@bp.post("/rollover")
@requires(Permission.IMPORT)
def apply() -> BaseResponse | Any:
    """Apply the rollover the preview showed (the same top grade); once per school year."""
    svc = services()
    user = current_user()
    assert user is not None
    if request.form.get("confirm") != "yes":
        flash(gettext("Tick the box to confirm the rollover."))
        return redirect(url_for("rollover.preview", top_grade=_top_grade()))
    db = get_db()
    now = svc.clock()
    plan = plan_rollover(
        db,
        svc.settings.school.calendar(),
        chase_policy(svc.settings),
        now,
        top_grade=_top_grade(),
    )
    result = apply_rollover(db, plan, now, by_username=user.username)
    if not result.applied:
        flash(gettext("This school year's rollover was already done; nothing changed."))
        return redirect(url_for("rollover.preview"))
    audit(
        "rollover.apply",
        f"school_year:{plan.school_year}",
        {
            "top_grade": plan.top_grade,
            "moved": result.students_moved,
            "left": result.students_left,
        },
    )
    db.commit()
    flash(
        gettext(
            "Rollover done: %(moved)d students moved up a grade, %(left)d marked as left. "
            "Kiosks receive it at their next sync."
        )
        % {"moved": result.students_moved, "left": result.students_left}
    )
    return redirect(url_for("rollover.preview"))
