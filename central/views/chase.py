"""The overdue chase in the console (/overdue) and as JSON (GET /api/v1/reports/overdue)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext  # type: ignore[import-untyped]  # ships no type hints
from werkzeug.wrappers import Response as BaseResponse

from central.auth import token_matches
from central.chase import (
    ChaseOutcome,
    end_of_day,
    group_by_class,
    new_batch,
    overdue_rows,
    plan_chase,
    record_class_list,
    run_chase,
    sms_csv,
)
from central.chase_slips import class_slip_pdf
from central.context import get_db, get_read_db, services
from central.mail import make_mailer
from central.pdf import MissingCJKFont
from central.permissions import Permission
from central.views.api import _unauthorized
from central.views.guard import audit, can, current_user, requires
from kiosk.circulation.overdue import Channel, Stage
from kiosk.config import school_name
from kiosk.policies import chase_policy

bp = Blueprint("chase", __name__)


def N_(msgid: str) -> str:
    """Mark `msgid` for translation (chase.po); the template translates it when shown."""
    return msgid


STAGE_NAMES = {
    Stage.KIOSK_REMINDER.value: N_("Kiosk reminder"),
    Stage.CLASS_LIST.value: N_("Class teacher's list"),
    Stage.PARENTS.value: N_("Parents"),
    Stage.LONG_OVERDUE.value: N_("Long overdue"),
}
CHANNEL_NAMES = {
    Channel.EMAIL.value: N_("E-mail"),
    Channel.SMS.value: N_("SMS"),
    Channel.PRINT.value: N_("催还单"),
}


def _api_allowed() -> bool:
    """A script holding the monitor token, or a signed-in user who may take data away (as for
    the other reports: docs/reports.md)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(services().monitor_token, token.strip()):
        return True
    return can(Permission.EXPORT)


@bp.get("/api/v1/reports/overdue")
def api_overdue() -> Response:
    """The overdue list as of the end of `as_of` (default: now), by class, oldest first."""
    if not _api_allowed():
        return _unauthorized()
    svc = services()
    policy = chase_policy(svc.settings)
    as_of_text = request.args.get("as_of", "").strip()
    if as_of_text:
        try:
            as_of = dt.date.fromisoformat(as_of_text)
        except ValueError:
            response = jsonify(
                {"error": "bad_request", "message": "as_of must be a date like YYYY-MM-DD"}
            )
            response.status_code = 400
            return response
        now = min(end_of_day(policy, as_of), svc.clock())
    else:
        now = svc.clock()
        as_of = policy.calendar.local_date(now)
    rows = overdue_rows(get_read_db(), policy, now, past=now < svc.clock())
    return jsonify({"rows": [row.as_json() for row in rows], "as_of": as_of.isoformat()})


# --- the console ------------------------------------------------------------------------------


@bp.get("/overdue")
@requires(Permission.CHASE)
def overdue() -> str:
    """Every overdue loan by class with its stage and the notices already recorded, and the
    actions of the chase: send the parents' e-mail, export SMS, print a class's 催还单."""
    svc = services()
    policy = chase_policy(svc.settings)
    now = svc.clock()
    db = get_read_db()
    plan = plan_chase(db, policy, now, email=bool(svc.settings.mail.host))
    groups = group_by_class(overdue_rows(db, policy, now))
    return render_template(
        "central/chase/overdue.html",
        groups=groups,
        plan=plan,
        policy=policy,
        stage_names=STAGE_NAMES,
        channel_names=CHANNEL_NAMES,
        today=policy.calendar.local_date(now),
        mail_configured=bool(svc.settings.mail.host),
        copy_url=_copy_url,
        total=sum(len(g.rows) for g in groups),
    )


def _copy_url(barcode: str) -> str | None:
    """The copy's record page, where the loss case starts, when the console has one."""
    from flask import current_app

    # The loss flow (lost / compensation) lives on the copy's state page.
    for endpoint in ("compensation.copy_state", "records.item", "records.copy"):
        if endpoint in current_app.view_functions:
            return url_for(endpoint, barcode=barcode)
    return None


def _run_chase_as_signed_in_user(**stages: bool) -> ChaseOutcome:
    """A chase run from the console: the settings' policy and mailer, by the signed-in user."""
    svc = services()
    user = current_user()
    assert user is not None
    return run_chase(
        svc.session_factory,
        chase_policy(svc.settings),
        make_mailer(svc.settings.mail),
        svc.clock(),
        school=school_name(svc.settings),
        return_hint=svc.settings.chase.return_hint,
        by_username=user.username,
        **stages,
    )


@bp.post("/overdue/send")
@requires(Permission.CHASE)
def send_now() -> BaseResponse:
    """ "Send parents' notices now": the chase's e-mail stage, after catching up the ledger."""
    outcome = _run_chase_as_signed_in_user()
    db = get_db()
    audit(
        "chase.send",
        f"batch:{outcome.batch}",
        {"sent": outcome.sent, "failed": len(outcome.failed)},
    )
    db.commit()
    flash(
        gettext("Parents' e-mails sent: %(sent)d, failed: %(failed)d.")
        % {"sent": outcome.sent, "failed": len(outcome.failed)}
    )
    for _, reason in outcome.failed[:3]:
        flash(reason)
    return redirect(url_for("chase.overdue"))


@bp.post("/overdue/sms.csv")
@requires(Permission.CHASE)
def sms_export() -> Any:
    """The parents without e-mail whose notice is due, as a CSV for the school's SMS platform;
    each is recorded, so the next export has only new ones."""
    if not can(Permission.VIEW_CONTACTS):
        abort(403)
    svc = services()
    outcome = _run_chase_as_signed_in_user(record_sms=True, email=False)
    db = get_db()
    audit("chase.sms_export", f"batch:{outcome.batch}", {"rows": len(outcome.sms_recorded)})
    db.commit()
    if not outcome.sms_recorded:
        flash(gettext("No new SMS notices are due."))
        return redirect(url_for("chase.overdue"))
    body = sms_csv(outcome.sms_recorded, school=school_name(svc.settings))
    day = chase_policy(svc.settings).calendar.local_date(svc.clock()).isoformat()
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="sms-{day}.csv"'},
    )


@bp.post("/overdue/slips.pdf")
@requires(Permission.CHASE)
def class_slips() -> Any:
    """The 催还单 of one class (`class` form field, its key text) or of every class, for
    printing; the class-list stage is recorded for the loans on it."""
    svc = services()
    policy = chase_policy(svc.settings)
    now = svc.clock()
    wanted = request.form.get("class", "").strip()
    db = get_db()
    rows = [r for r in overdue_rows(db, policy, now) if r.days_overdue >= policy.class_list_days]
    groups = [g for g in group_by_class(rows) if not wanted or g.class_text == wanted]
    if not groups:
        flash(gettext("No class has books on its overdue list."))
        return redirect(url_for("chase.overdue"))
    try:
        pdf = class_slip_pdf(
            groups,
            school=school_name(svc.settings),
            today=policy.calendar.local_date(now),
            threshold_days=policy.class_list_days,
        )
    except MissingCJKFont as exc:
        flash(str(exc))
        return redirect(url_for("chase.overdue"))
    user = current_user()
    assert user is not None
    batch = new_batch()
    recorded = 0
    for group in groups:
        recorded += len(
            record_class_list(db, group, now=now, batch=batch, by_username=user.username)
        )
    audit(
        "chase.class_list",
        f"class:{wanted or 'all'}",
        {"classes": len(groups), "loans": sum(len(g.rows) for g in groups), "new": recorded},
    )
    db.commit()
    name = f"cuihuandan-{wanted or 'all'}-{policy.calendar.local_date(now).isoformat()}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
