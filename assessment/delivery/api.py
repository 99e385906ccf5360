"""The candidate's sitting as a JSON API (the sitting page uses it; so can a kiosk or lock-down browser).

The browser identifies its tab with the ``X-Sitting-Token`` header it chose at check-in; a second tab or
machine is refused until a proctor releases the sitting. Times come from the server only.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_login import current_user
from flask_smorest import Blueprint, abort

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt, AttemptState, Registration
from assessment.delivery.presenter import sitting_view
from assessment.delivery.schemas import (
    AnswerIn,
    CheckInIn,
    NextIn,
    PulseOut,
    SaveOut,
    SignalIn,
    SittingOut,
)
from assessment.extensions import db

bp = Blueprint("api_sitting", __name__, url_prefix="/api/v1/sitting", description="The candidate's sitting")
only_candidates = roles_required(Role.CANDIDATE)
TOKEN_HEADER = "X-Sitting-Token"  # noqa: S105 - a header name, not a secret


def current_attempt() -> Attempt:
    """The candidate's own attempt: the newest one that has not ended, else the newest."""
    attempts = (
        db.session.execute(
            db.select(Attempt)
            .join(Registration)
            .where(Registration.candidate_id == current_user.id)
            .order_by(Attempt.id.desc())
        )
        .scalars()
        .all()
    )
    if not attempts:
        abort(404, message="you are not registered for an exam session")
    live = [a for a in attempts if not a.state.finished]
    return live[0] if live else attempts[0]


def _view(attempt: Attempt) -> dict[str, Any]:
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt.id)
    now = db_now()
    if attempt.state is AttemptState.IN_PROGRESS:
        timing = attempt.sections[attempt.current_section]
        deadline = timing.deadline()
        if deadline is not None and now > deadline + services.grace():
            services.finalize_overdue(now=now)  # the candidate is back after time ran out
            attempt = db.session.get(Attempt, attempt.id)
    return sitting_view(attempt, now=now, grace_seconds=int(services.grace().total_seconds()))


def _fail(exc: services.DeliveryError) -> None:
    abort(exc.status, message=exc.message)


@bp.route("", methods=["GET"])
@only_candidates
@bp.response(200, SittingOut)
def get_sitting():
    """The sitting's state, remaining time and the open section's items with the candidate's answers.

    The page reads it when it opens and whenever the heartbeat's ``view_version`` differs from its own.
    """
    return _view(current_attempt())


@bp.route("/check-in", methods=["POST"])
@only_candidates
@bp.arguments(CheckInIn)
@bp.response(200, SittingOut)
def check_in(payload: dict[str, Any]):
    """Claim the sitting for this browser tab (then wait for the proctor to admit you)."""
    attempt = current_attempt()
    try:
        services.check_in(attempt, payload["client_token"], now=db_now())
    except services.DeliveryError as exc:
        _fail(exc)
    return _view(attempt)


@bp.route("/heartbeat", methods=["POST"])
@only_candidates
@bp.response(200, PulseOut)
def heartbeat():
    """Keep this tab's hold on the sitting and re-synchronise the clock (every 3-5 s): a small pulse.

    It carries the state, the open section's remaining time by the server's clock and ``view_version``; when
    that differs from the version of the view the page holds (a pause, extra time, the next section, the end),
    or after the page lost the connection, the page reads the whole view with ``GET /api/v1/sitting``.
    409 when another browser holds the sitting.
    """
    try:
        return services.pulse(current_user.id, request.headers.get(TOKEN_HEADER))
    except services.DeliveryError as exc:
        _fail(exc)


@bp.route("/start", methods=["POST"])
@only_candidates
@bp.response(200, SittingOut)
def start():
    """Start the first section (after admission)."""
    attempt = current_attempt()
    try:
        services.start(attempt, request.headers.get(TOKEN_HEADER, ""), now=db_now())
    except services.DeliveryError as exc:
        _fail(exc)
    return _view(attempt)


@bp.route("/answers", methods=["POST"])
@only_candidates
@bp.arguments(AnswerIn)
@bp.response(200, SaveOut)
def save_answer(payload: dict[str, Any]):
    """Save one answer (or a flag): acknowledged once committed; a retry with the same key is safe.

    409 when the time is up, the sitting is paused or another browser holds it; 422 for an invalid answer.
    """
    attempt = current_attempt()
    try:
        result = services.save_answer(
            attempt,
            client_token=request.headers.get(TOKEN_HEADER),
            item=payload["item"],
            response=payload["response"],
            flagged=payload["flagged"],
            seq=payload["seq"],
            key=payload["key"],
            now=db_now(),
        )
    except services.DeliveryError as exc:
        _fail(exc)
    return result.as_dict()


@bp.route("/sections/<int:position>/finish", methods=["POST"])
@only_candidates
@bp.response(200, SittingOut)
def finish_section(position: int):
    """End a section before its time is up (the next one starts at once)."""
    attempt = current_attempt()
    try:
        services.finish_section(
            attempt, position, client_token=request.headers.get(TOKEN_HEADER), now=db_now()
        )
    except services.DeliveryError as exc:
        _fail(exc)
    return _view(attempt)


@bp.route("/sections/<int:position>/next", methods=["POST"])
@only_candidates
@bp.arguments(NextIn)
@bp.response(200, SittingOut)
def next_question(payload: dict[str, Any], position: int):
    """Adaptive sections: commit the saved answer to the current question and get the next one.

    There is no going back. A retry of the same call is safe: it answers with the same next question.
    """
    attempt = current_attempt()
    try:
        services.next_question(
            attempt,
            position,
            client_token=request.headers.get(TOKEN_HEADER),
            item=payload["item"],
            now=db_now(),
        )
    except services.DeliveryError as exc:
        _fail(exc)
    return _view(attempt)


@bp.route("/signals", methods=["POST"])
@only_candidates
@bp.arguments(SignalIn)
@bp.response(204)
def signal(payload: dict[str, Any]):
    """Browser events (focus lost, copy or paste, full screen left): shown to proctors as signals."""
    attempt = current_attempt()
    try:
        services.record_irregularity(
            attempt.registration.session,
            attempt=attempt,
            category=payload["signal"],
            note=payload["detail"],
            source="browser",
            actor=None,
            now=db_now(),
        )
    except services.DeliveryError as exc:
        _fail(exc)
    current_app.logger.debug("signal %s from attempt %s", payload["signal"], attempt.id)
