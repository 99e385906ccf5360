"""Sections are scored as they close, with the pinned parameters; rescoring keeps the old result."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assessment.audit.models import AuditEvent
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.extensions import db
from assessment.results import services as results
from assessment.results.models import SectionResult
from tests.assessment.test_delivery import KNOWLEDGE, T0, TOKEN, _attempt, _begin, _save, _user, make_sitting


@pytest.fixture
def calibrated(app, users):
    """The sitting of test_delivery with approved 2PL parameters for its knowledge items."""
    sitting = make_sitting(app)
    with app.app_context():
        for n, code in enumerate(KNOWLEDGE):
            proposal = bank_services.propose_parameters(
                bank_services.find_item(code),
                model="2pl",
                a=1.0 + n / 10,
                b=[n / 3 - 1],
                provenance={"source": "test"},
                actor=_user("psychometrician"),
            )
            bank_services.approve_parameters(proposal, actor=_user("administrator"))
    return sitting


def _results(attempt_id):
    return (
        db.session.execute(
            db.select(SectionResult).where(SectionResult.attempt_id == attempt_id).order_by(SectionResult.id)
        )
        .scalars()
        .all()
    )


def test_a_closed_section_is_scored_with_the_pinned_parameters(app, calibrated):
    with app.app_context():
        _begin(calibrated)  # parameters are pinned at check-in
        for code in KNOWLEDGE[:3]:
            _save(calibrated, code, 0, seq=int(code[-1]) + 1)  # keys of the test bank are option 0
        services.finish_section(_attempt(calibrated), 0, client_token=TOKEN, now=T0 + timedelta(minutes=3))
        [result] = _results(calibrated)
        assert result.is_current and result.method == "eap"
        assert (result.number_correct, result.max_score, result.n_answered) == (3, 6, 3)
        assert result.theta is not None and 0 < result.se < 1.5
        assert result.parameter_sets == _attempt(calibrated).pinned_parameters
        assert result.subscores["civil"]["too_few"] is False and result.subscores["civil"]["n"] == 6


def test_rescoring_with_new_parameters_keeps_the_old_result(app, calibrated):
    with app.app_context():
        _begin(calibrated)
        _save(calibrated, "K-00", 0)
        services.finish_section(_attempt(calibrated), 0, client_token=TOKEN, now=T0 + timedelta(minutes=3))
        [old] = _results(calibrated)
        item = bank_services.find_item("K-00")
        proposal = bank_services.propose_parameters(
            item, model="2pl", a=2.5, b=[-2.0], provenance={}, actor=_user("psychometrician")
        )
        bank_services.approve_parameters(proposal, actor=_user("administrator"))
        with pytest.raises(ValueError, match="needs a reason"):
            results.rescore(_attempt(calibrated), 0, actor=_user("administrator"), reason=" ", now=T0)
        new = results.rescore(
            _attempt(calibrated),
            0,
            actor=_user("administrator"),
            reason="K-00 recalibrated",
            now=T0 + timedelta(days=1),
            use_approved=True,
        )
        rows = _results(calibrated)
        assert [r.is_current for r in rows] == [False, True]
        assert rows[0].theta == old.theta and new.theta != old.theta
        assert new.parameter_sets["K-00"] == proposal.id and old.parameter_sets["K-00"] != proposal.id
        event = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "results.rescored")
        ).scalar_one()
        assert event.details["reason"] == "K-00 recalibrated"


def test_a_section_closed_by_the_server_is_scored_too(app, calibrated):
    with app.app_context():
        _begin(calibrated)
        services.finalize_overdue(now=T0 + timedelta(seconds=910))
        [result] = _results(calibrated)
        assert result.number_correct == 0 and result.n_answered == 0 and result.theta < 0
