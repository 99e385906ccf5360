"""Administrators' pages of exam scheduling: tests, sessions, registrations and accommodations."""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from assessment.access_codes import services as access_code_services
from assessment.access_codes.forms import IssueCodesForm
from assessment.access_codes.models import AccessCode
from assessment.auth.access import roles_required
from assessment.auth.models import Role, User
from assessment.bank.models import Item, ItemStatus
from assessment.delivery import services as delivery
from assessment.delivery.clock import db_now
from assessment.delivery.models import (
    Attempt,
    AttemptState,
    ExamDefinition,
    ExamSession,
    Registration,
)
from assessment.extensions import db
from assessment.scheduling import services
from assessment.scheduling.forms import (
    FAMILY_LABELS,
    MODE_LABELS,
    STATE_LABELS,
    AccommodationsForm,
    DefinitionForm,
    ImportForm,
    RegisterForm,
    SessionForm,
)

bp = Blueprint("scheduling", __name__, url_prefix="/admin")

ADMINISTRATOR = Role.ADMINISTRATOR
# Attempt states as the sessions list counts them.
STATE_GROUPS = {
    AttemptState.SCHEDULED: "waiting",
    AttemptState.ADMITTED: "waiting",
    AttemptState.IN_PROGRESS: "sitting",
    AttemptState.PAUSED: "sitting",
    AttemptState.SUBMITTED: "finished",
    AttemptState.TERMINATED: "finished",
}


@bp.context_processor
def labels() -> dict[str, object]:
    return {"family_labels": FAMILY_LABELS, "mode_labels": MODE_LABELS, "state_labels": STATE_LABELS}


def _get_or_404(model: type[Any], object_id: int) -> Any:
    row = db.session.get(model, object_id)
    if row is None:
        abort(404)
    return row


def _actor() -> User:
    return current_user._get_current_object()


def _attach(form: Any, problems: list[services.Problem], fields: dict[str | None, Any]) -> None:
    """Show each problem next to its field, or above the form when it has none."""
    for problem in problems:
        target = fields.get(problem.column)
        (target.errors if target is not None else form.form_errors).append(problem.message)


# Tests -----------------------------------------------------------------------------------------------------


@bp.route("/tests/")
@roles_required(ADMINISTRATOR)
def definitions():
    """Tests (exam definitions) with their sections, total time and sessions."""
    rows = (
        db.session.execute(
            db.select(ExamDefinition)
            .options(selectinload(ExamDefinition.sections))
            .order_by(ExamDefinition.created_at.desc(), ExamDefinition.id.desc())
        )
        .scalars()
        .all()
    )
    sessions = Counter(db.session.execute(db.select(ExamSession.definition_id)).scalars())
    return render_template("scheduling/definitions.html", definitions=rows, sessions=sessions)


def _operational_items() -> dict[str, list[Item]]:
    items = db.session.execute(
        db.select(Item).where(Item.status == ItemStatus.OPERATIONAL).order_by(Item.family, Item.code)
    ).scalars()
    by_family: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_family[item.family.value].append(item)
    return by_family


@bp.route("/tests/new", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def definition_new():
    """Create a test of up to four fixed sections from the bank's operational items."""
    form = DefinitionForm()
    refused = False
    if form.validate_on_submit():
        used = form.used_sections()
        try:
            definition = services.create_definition(
                form.name.data, form.section_specs(), actor=_actor(), scoring_method=form.scoring_method.data
            )
        except services.SchedulingError as exc:
            # FieldList keeps the errors it saw while validating: this flag, not form.errors, says "refused"
            refused = True
            for problem in exc.problems:
                if problem.row is not None and problem.column:
                    getattr(used[problem.row - 1].form, problem.column).errors.append(problem.message)
                else:
                    form.form_errors.append(problem.message)
        else:
            flash(_("Test %(name)s created.", name=definition.name), "info")
            return redirect(url_for("scheduling.definition_detail", definition_id=definition.id))
    return render_template(
        "scheduling/definition_form.html", form=form, operational=_operational_items()
    ), 422 if refused or form.errors else 200


@bp.route("/tests/<int:definition_id>")
@roles_required(ADMINISTRATOR)
def definition_detail(definition_id: int):
    """A test's sections, their time limits and items, and the sessions that use it."""
    definition = _get_or_404(ExamDefinition, definition_id)
    sessions = (
        db.session.execute(
            db.select(ExamSession)
            .where(ExamSession.definition_id == definition.id)
            .order_by(ExamSession.opens_at.desc())
        )
        .scalars()
        .all()
    )
    total = sum(s.time_limit_seconds for s in definition.sections)
    return render_template(
        "scheduling/definition.html", definition=definition, sessions=sessions, total_seconds=total
    )


# Sessions --------------------------------------------------------------------------------------------------


@bp.route("/sessions/")
@roles_required(ADMINISTRATOR)
def sessions():
    """Exam sessions with their candidates counted by where their sittings are."""
    rows = (
        db.session.execute(
            db.select(ExamSession)
            .options(selectinload(ExamSession.definition), selectinload(ExamSession.proctors))
            .order_by(ExamSession.opens_at.desc(), ExamSession.id.desc())
        )
        .scalars()
        .all()
    )
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    grouped = db.session.execute(
        db.select(Registration.session_id, Attempt.state, db.func.count())
        .join(Attempt, Attempt.registration_id == Registration.id)
        .group_by(Registration.session_id, Attempt.state)
    ).all()
    for session_id, state, n in grouped:
        counts[session_id][STATE_GROUPS[AttemptState(state)]] += n
        counts[session_id]["registered"] += n
    return render_template("scheduling/sessions.html", sessions=rows, counts=counts)


def _session_form() -> SessionForm:
    form = SessionForm()
    form.definition.choices = [
        SelectChoice(d.id, d.name)
        for d in db.session.execute(db.select(ExamDefinition).order_by(ExamDefinition.name)).scalars()
    ]
    form.proctors.choices = [
        SelectChoice(u.id, f"{u.full_name} ({u.username})")
        for u in db.session.execute(
            db.select(User).where(User.role == Role.PROCTOR, User.active.is_(True)).order_by(User.full_name)
        ).scalars()
    ]
    return form


@bp.route("/sessions/new", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def session_new():
    """Schedule a session of a test, with its window (UTC) and proctors."""
    form = _session_form()
    if request.method == "GET" and request.args.get("definition", "").isdigit():
        form.definition.data = int(request.args["definition"])
    if form.validate_on_submit():
        proctors = (
            db.session.execute(
                db.select(User).where(User.id.in_(form.proctors.data), User.role == Role.PROCTOR)
            )
            .scalars()
            .all()
        )
        try:
            session = delivery.create_session(
                _get_or_404(ExamDefinition, form.definition.data),
                name=form.name.data.strip(),
                opens_at=form.opens_at.data,
                closes_at=form.closes_at.data,
                proctors=proctors,
                actor=_actor(),
            )
        except delivery.DeliveryError as exc:
            form.form_errors.append(exc.message)
        else:
            flash(_("Session %(name)s created.", name=session.name), "info")
            return redirect(url_for("scheduling.session_detail", session_id=session.id))
    return render_template("scheduling/session_form.html", form=form), 422 if form.errors else 200


def _registrations_of(session: ExamSession) -> list[Registration]:
    """A session's registrations with their candidates and sittings, by candidate code."""
    return list(
        db.session.execute(
            db.select(Registration)
            .where(Registration.session_id == session.id)
            .options(selectinload(Registration.candidate), selectinload(Registration.attempt))
            .order_by(Registration.candidate_code)
        ).scalars()
    )


@bp.route("/sessions/<int:session_id>")
@roles_required(ADMINISTRATOR)
def session_detail(session_id: int):
    """A session's window, proctors and registered candidates with their accommodations and sittings."""
    session = _get_or_404(ExamSession, session_id)
    registrations = _registrations_of(session)
    return render_template("scheduling/session.html", session=session, registrations=registrations)


# Registrations ---------------------------------------------------------------------------------------------


def _register_form(session: ExamSession) -> RegisterForm:
    form = RegisterForm()
    registered = db.select(Registration.candidate_id).where(Registration.session_id == session.id)
    candidates = db.session.execute(
        db.select(User)
        .where(User.role == Role.CANDIDATE, User.active.is_(True), User.id.not_in(registered))
        .order_by(User.full_name, User.username)
    ).scalars()
    form.candidate.choices = [SelectChoice("", _("A new account (fill in below)"))] + [
        SelectChoice(str(u.id), f"{u.full_name} ({u.username})") for u in candidates
    ]
    return form


@bp.route("/sessions/<int:session_id>/register", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def register(session_id: int):
    """Register one candidate: an existing account, or a new one created with the registration."""
    session = _get_or_404(ExamSession, session_id)
    form = _register_form(session)
    if form.validate_on_submit():
        candidate = db.session.get(User, int(form.candidate.data)) if form.candidate.data else None
        new_account = None
        if candidate is None:
            new_account = services.NewAccount(
                username=form.username.data.strip(),
                full_name=form.full_name.data.strip(),
                email=(form.email.data or "").strip() or None,
                password=form.password.data,
            )
        try:
            registration = services.register_candidate(
                session,
                candidate=candidate,
                new_account=new_account,
                accommodations=form.accommodations(),
                actor=_actor(),
            )
        except services.SchedulingError as exc:
            fields = {
                name: form[name] for name in ("candidate", "username", "full_name", "email", "password")
            }
            fields.update({name: form[name] for name in ("language", "extra_time_factor", "note")})
            _attach(form, exc.problems, fields)
        else:
            flash(
                _(
                    "%(name)s registered with candidate code %(code)s.",
                    name=registration.candidate.full_name,
                    code=registration.candidate_code,
                ),
                "info",
            )
            return redirect(url_for("scheduling.session_detail", session_id=session.id))
    return render_template(
        "scheduling/register.html", session=session, form=form
    ), 422 if form.errors else 200


@bp.route("/sessions/<int:session_id>/import", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def import_candidates(session_id: int):
    """Register candidates from a CSV file, all or nothing; new accounts' passwords are shown once."""
    session = _get_or_404(ExamSession, session_id)
    form = ImportForm()
    report, problems, credentials = None, [], None
    if form.validate_on_submit():
        try:
            report = services.import_candidates(session, form.file.data.read(), actor=_actor())
        except services.SchedulingError as exc:
            problems = exc.problems
        else:
            if report.new_accounts:
                # Offered as a data: link in this response only, so the passwords are never stored anywhere.
                text = services.credentials_csv(report, session)
                credentials = base64.b64encode(text.encode("utf-8")).decode("ascii")
    status = 422 if problems or form.errors else 200
    return render_template(
        "scheduling/import.html",
        session=session,
        form=form,
        report=report,
        problems=problems,
        credentials=credentials,
        columns=services.COLUMNS,
    ), status


@bp.route("/registrations/<int:registration_id>", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def registration(registration_id: int):
    """A registration's accommodations and section timers; extra time changes only before the start."""
    row = _get_or_404(Registration, registration_id)
    form = AccommodationsForm(
        data={
            "language": row.language,
            "extra_time_factor": row.extra_time_factor,
            "large_text": row.large_text,
            "breaks_allowed": row.breaks_allowed,
            "note": row.accommodation_note or "",
        }
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        try:
            services.update_accommodations(row, form.accommodations(), actor=_actor())
        except services.SchedulingError as exc:
            _attach(
                form, exc.problems, {name: form[name] for name in ("language", "extra_time_factor", "note")}
            )
        else:
            flash(_("Accommodations of %(code)s saved.", code=row.candidate_code), "info")
            return redirect(url_for("scheduling.session_detail", session_id=row.session_id))
    db.session.refresh(row)
    attempt = row.attempt
    started = attempt is not None and (
        attempt.started_at is not None or attempt.state not in services.NOT_STARTED
    )
    return render_template(
        "scheduling/registration.html", registration=row, form=form, started=started
    ), 422 if form.errors else 200


# Access codes ----------------------------------------------------------------------------------------------


@bp.route("/sessions/<int:session_id>/access-codes", methods=["GET", "POST"])
@roles_required(ADMINISTRATOR)
def access_codes(session_id: int):
    """Issue one-time access codes to a session's candidates; the codes are shown once, then only hashed."""
    session = _get_or_404(ExamSession, session_id)
    registrations = _registrations_of(session)
    form = IssueCodesForm()
    form.registrations.choices = [SelectChoice(r.id, r.candidate_code) for r in registrations]
    issued, status = None, 200
    if form.validate_on_submit():
        wanted = set(form.registrations.data or [])
        chosen = registrations if form.issue_all.data else [r for r in registrations if r.id in wanted]
        if not chosen:
            form.registrations.errors.append(
                _("Select at least one candidate, or issue codes for every one.")
            )
        else:
            try:
                issued = access_code_services.issue_codes(session, chosen, actor=_actor(), now=db_now())
            except access_code_services.AccessCodeError as exc:
                form.form_errors.append(str(exc))
    if form.errors:
        status = 422
    if issued is not None:
        sign_in_url = url_for("auth.sign_in", _external=True)
        text = access_code_services.codes_csv(issued, session, sign_in_url=sign_in_url)
        return render_template(
            "scheduling/access_codes_issued.html",
            session=session,
            issued=issued,
            csv_data=base64.b64encode(text.encode("utf-8")).decode("ascii"),
            sign_in_url=sign_in_url,
        )
    codes = {
        row.registration_id: row
        for row in db.session.execute(
            db.select(AccessCode).where(AccessCode.registration_id.in_([r.id for r in registrations]))
        ).scalars()
    }
    return render_template(
        "scheduling/access_codes.html", session=session, registrations=registrations, codes=codes, form=form
    ), status
