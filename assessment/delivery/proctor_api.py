"""The proctor's console as a JSON API: the live grid and every control, each audited."""

from __future__ import annotations

from typing import Any

from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt, AttemptState, CurrentAnswer, Irregularity, Registration
from assessment.delivery.views import session_for_proctor
from assessment.extensions import db

bp = Blueprint("api_proctor", __name__, url_prefix="/api/v1/proctor", description="Proctors' console")
only_proctors = roles_required(Role.PROCTOR)
ONLINE_SECONDS = 30


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ReasonIn(_Strict):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ExtendIn(_Strict):
    seconds = fields.Integer(required=True, validate=validate.Range(min=1, max=14400))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class IrregularityIn(_Strict):
    attempt = fields.Integer(load_default=None, allow_none=True)
    category = fields.String(required=True, validate=validate.OneOf(services.IRREGULARITY_CATEGORIES))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class GridRowOut(Schema):
    attempt = fields.Integer()
    candidate_code = fields.String()
    name = fields.String()
    state = fields.String()
    section = fields.Integer()
    sections = fields.Integer()
    answered = fields.Integer()
    items = fields.Integer()
    remaining_seconds = fields.Float(allow_none=True)
    last_seen_seconds = fields.Float(allow_none=True)
    online = fields.Boolean()
    extra_time_factor = fields.Float()
    irregularities = fields.Integer()
    signals = fields.Integer()


class GridOut(Schema):
    session = fields.String()
    server_time = fields.DateTime()
    rows = fields.List(fields.Nested(GridRowOut))


def _attempt_for_proctor(attempt_id: int) -> Attempt:
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None or current_user.id not in {p.id for p in attempt.registration.session.proctors}:
        abort(404, message="no such candidate in your sessions")
    return attempt


@bp.route("/sessions/<int:session_id>/grid")
@only_proctors
@bp.response(200, GridOut)
def grid(session_id: int):
    """Every candidate of the session: state, section, progress, time left, last seen, irregularities."""
    session = session_for_proctor(session_id)
    now = db_now()
    # the whole room in a few statements, not three per candidate: every proctor polls this every 3 s
    registrations = (
        db.session.execute(
            db.select(Registration)
            .where(Registration.session_id == session.id)
            .order_by(Registration.id)
            .options(
                selectinload(Registration.attempt).selectinload(Attempt.sections),
                selectinload(Registration.candidate),
            )
        )
        .scalars()
        .all()
    )
    attempt_ids = [r.attempt.id for r in registrations if r.attempt]
    answered = dict(
        db.session.execute(
            db.select(CurrentAnswer.attempt_id, func.count())
            .where(CurrentAnswer.attempt_id.in_(attempt_ids), CurrentAnswer.response.is_not(None))
            .group_by(CurrentAnswer.attempt_id)
        ).all()
    )
    counts: dict[tuple[int, str], int] = {
        (a, s): n
        for a, s, n in db.session.execute(
            db.select(Irregularity.attempt_id, Irregularity.source, func.count())
            .where(Irregularity.attempt_id.in_(attempt_ids))
            .group_by(Irregularity.attempt_id, Irregularity.source)
        ).all()
    }
    rows = []
    for registration in registrations:
        attempt = registration.attempt
        timing = attempt.sections[attempt.current_section]
        planned = attempt.form.get("sections") or []
        # an adaptive section counts against its maximum length (it may stop earlier)
        n_items = sum(s["max_items"] if s.get("mode") == "cat" else len(s["items"]) for s in planned)
        seen = (now - attempt.last_seen_at).total_seconds() if attempt.last_seen_at else None
        live = attempt.state in (AttemptState.IN_PROGRESS, AttemptState.PAUSED)
        rows.append(
            {
                "attempt": attempt.id,
                "candidate_code": registration.candidate_code,
                "name": registration.candidate.full_name,
                "state": attempt.state.value,
                "section": attempt.current_section + 1,
                "sections": len(attempt.sections),
                "answered": answered.get(attempt.id, 0),
                "items": n_items,
                "remaining_seconds": timing.remaining_seconds(now) if live else None,
                "last_seen_seconds": seen,
                "online": seen is not None and seen <= ONLINE_SECONDS,
                "extra_time_factor": registration.extra_time_factor,
                "irregularities": counts.get((attempt.id, "proctor"), 0),
                "signals": counts.get((attempt.id, "browser"), 0),
            }
        )
    return {"session": session.name, "server_time": now, "rows": rows}


def _act(action: str, attempt_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    attempt = _attempt_for_proctor(attempt_id)
    actor = current_user._get_current_object()
    now = db_now()
    try:
        if action == "admit":
            services.admit(attempt, actor=actor, now=now)
        elif action == "pause":
            services.pause(attempt, actor=actor, reason=payload.get("reason"), now=now)
        elif action == "resume":
            services.resume(attempt, actor=actor, reason=payload.get("reason"), now=now)
        elif action == "extend":
            services.extend(attempt, payload["seconds"], actor=actor, reason=payload["reason"], now=now)
        elif action == "terminate":
            services.terminate(attempt, actor=actor, reason=payload.get("reason") or "", now=now)
        elif action == "release":
            services.release(attempt, actor=actor, reason=payload.get("reason") or "released by the proctor")
    except services.DeliveryError as exc:
        abort(exc.status, message=exc.message)
    db.session.expire_all()
    return {"attempt": attempt_id, "state": db.session.get(Attempt, attempt_id).state.value}


class ActionOut(Schema):
    attempt = fields.Integer()
    state = fields.String()


@bp.route("/attempts/<int:attempt_id>/admit", methods=["POST"])
@only_proctors
@bp.response(200, ActionOut)
def admit(attempt_id: int):
    """Admit a checked-in candidate (after checking their identity)."""
    return _act("admit", attempt_id, {})


@bp.route("/attempts/<int:attempt_id>/pause", methods=["POST"])
@only_proctors
@bp.arguments(ReasonIn)
@bp.response(200, ActionOut)
def pause(payload: dict[str, Any], attempt_id: int):
    """Pause: the candidate's clock stops until resumed."""
    return _act("pause", attempt_id, payload)


@bp.route("/attempts/<int:attempt_id>/resume", methods=["POST"])
@only_proctors
@bp.arguments(ReasonIn)
@bp.response(200, ActionOut)
def resume(payload: dict[str, Any], attempt_id: int):
    """Resume a paused sitting; the pause does not count against the candidate."""
    return _act("resume", attempt_id, payload)


@bp.route("/attempts/<int:attempt_id>/extend", methods=["POST"])
@only_proctors
@bp.arguments(ExtendIn)
@bp.response(200, ActionOut)
def extend(payload: dict[str, Any], attempt_id: int):
    """Add time to the open section, with a reason."""
    return _act("extend", attempt_id, payload)


@bp.route("/attempts/<int:attempt_id>/terminate", methods=["POST"])
@only_proctors
@bp.arguments(ReasonIn)
@bp.response(200, ActionOut)
def terminate(payload: dict[str, Any], attempt_id: int):
    """End the sitting now, with a reason; answers given so far are kept."""
    return _act("terminate", attempt_id, payload)


@bp.route("/attempts/<int:attempt_id>/release", methods=["POST"])
@only_proctors
@bp.arguments(ReasonIn)
@bp.response(200, ActionOut)
def release(payload: dict[str, Any], attempt_id: int):
    """Let the candidate continue in another browser or machine."""
    return _act("release", attempt_id, payload)


@bp.route("/sessions/<int:session_id>/irregularities", methods=["POST"])
@only_proctors
@bp.arguments(IrregularityIn)
@bp.response(201, ActionOut)
def irregularity(payload: dict[str, Any], session_id: int):
    """Record an irregularity (environment, candidate, technical, staff, other) with a note."""
    session = session_for_proctor(session_id)
    attempt = _attempt_for_proctor(payload["attempt"]) if payload["attempt"] else None
    if attempt is not None and attempt.registration.session_id != session.id:
        abort(404, message="no such candidate in this session")
    try:
        services.record_irregularity(
            session,
            attempt=attempt,
            category=payload["category"],
            note=payload["note"],
            source="proctor",
            actor=current_user._get_current_object(),
            now=db_now(),
        )
    except services.DeliveryError as exc:
        abort(exc.status, message=exc.message)
    return {"attempt": payload["attempt"] or 0, "state": attempt.state.value if attempt else ""}
