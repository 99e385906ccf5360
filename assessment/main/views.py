"""The landing page of each role."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from assessment.auth.access import roles_required
from assessment.auth.models import Role, User
from assessment.extensions import db

bp = Blueprint("main", __name__)

HOME_ENDPOINTS = {
    Role.ADMINISTRATOR: "main.admin_home",
    Role.PSYCHOMETRICIAN: "bank.index",
    Role.PROCTOR: "main.proctor_home",
    Role.CANDIDATE: "main.candidate_home",
    Role.COMMISSION: "main.commission_home",
}


@bp.route("/")
@login_required
def home():
    """Send each user to the home page of their role."""
    return redirect(url_for(HOME_ENDPOINTS[current_user.role]))


@bp.route("/admin/")
@roles_required(Role.ADMINISTRATOR)
def admin_home():
    """Administrator's overview."""
    counts = dict(db.session.execute(db.select(User.role, db.func.count()).group_by(User.role)).all())
    from assessment.users.forms import ROLE_LABELS

    return render_template("main/admin_home.html", counts=counts, role_labels=ROLE_LABELS)


@bp.route("/proctor/")
@roles_required(Role.PROCTOR)
def proctor_home():
    """Proctor's sessions."""
    from assessment.delivery.views import proctor_sessions

    return render_template("main/proctor_home.html", sessions=proctor_sessions())


@bp.route("/exam/")
@roles_required(Role.CANDIDATE)
def candidate_home():
    """Candidate's exams."""
    from assessment.delivery.models import Registration

    registrations = (
        db.session.execute(
            db.select(Registration)
            .where(Registration.candidate_id == current_user.id)
            .order_by(Registration.id.desc())
        )
        .scalars()
        .all()
    )
    return render_template("main/candidate_home.html", registrations=registrations)


@bp.route("/commission/")
@roles_required(Role.COMMISSION)
def commission_home():
    """Interview commission's home: the campaigns whose candidates they interview."""
    return redirect(url_for("results.index"))
