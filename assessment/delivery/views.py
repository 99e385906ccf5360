"""Pages of delivery: the candidate's sitting and the proctor's console."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.delivery import services
from assessment.delivery.models import ExamSession, Irregularity, exam_session_proctor
from assessment.extensions import db
from assessment.spreadsheets import safe_cell

bp = Blueprint("delivery", __name__)


@bp.route("/exam/sitting")
@roles_required(Role.CANDIDATE)
def sitting():
    """The sitting page (driven by the JSON API)."""
    return render_template("delivery/sitting.html")


def proctor_sessions():
    """Sessions the signed-in proctor is assigned to."""
    return (
        db.session.execute(
            db.select(ExamSession)
            .join(exam_session_proctor)
            .where(exam_session_proctor.c.user_id == current_user.id)
            .order_by(ExamSession.opens_at.desc())
        )
        .scalars()
        .all()
    )


def session_for_proctor(session_id: int) -> ExamSession:
    """A session of this proctor; 404 for any other (no hint that it exists)."""
    session = db.session.get(ExamSession, session_id)
    if session is None or current_user.id not in {p.id for p in session.proctors}:
        abort(404)
    return session


@bp.route("/proctor/sessions/<int:session_id>")
@roles_required(Role.PROCTOR)
def console(session_id: int):
    """The live grid of a session's candidates with the proctor's controls."""
    session = session_for_proctor(session_id)
    return render_template(
        "delivery/console.html", session=session, categories=services.IRREGULARITY_CATEGORIES
    )


@bp.route("/proctor/sessions/<int:session_id>/irregularities.csv")
@roles_required(Role.PROCTOR)
def irregularities_csv(session_id: int):
    """Every irregularity and signal of the session, as CSV."""
    session = session_for_proctor(session_id)
    rows = db.session.execute(
        db.select(Irregularity).where(Irregularity.session_id == session.id).order_by(Irregularity.at)
    ).scalars()
    codes = {r.attempt.id: r.candidate_code for r in session.registrations if r.attempt}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at_utc", "candidate", "source", "category", "note"])
    for row in rows:
        writer.writerow(
            [
                row.at.isoformat(timespec="seconds"),
                codes.get(row.attempt_id, ""),
                row.source,
                row.category,
                safe_cell(row.note or ""),
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="session-{session.id}-irregularities.csv"'},
    )
