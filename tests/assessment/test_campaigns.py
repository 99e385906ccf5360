"""Campaigns: every stage counts, the composite and its SE by hand, minimums off by default, ratings, releases."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from assessment.audit.models import AuditEvent
from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.delivery import services as delivery
from assessment.delivery.models import Attempt, AttemptState, Irregularity
from assessment.extensions import db
from assessment.results import campaigns
from assessment.results.models import Campaign, CampaignCandidate, SectionResult
from tests.assessment.test_calibration import _bank_specs
from tests.assessment.test_delivery import KNOWLEDGE, SJT, T0

NOW = T0 + timedelta(days=3)
# Four candidates, hand-made so that every number below can be checked with a pencil.
KNOWLEDGE_THETA = [1.0, 0.0, -1.0, 0.0]  # mean 0, population SD sqrt(1/2)
SJT_THETA = [0.5, 0.5, -0.5, -0.5]  # mean 0, population SD 1/2
KNOWLEDGE_SE, SJT_SE = 0.3, 0.2


def _user(name: str) -> User:
    return db.session.execute(db.select(User).where(User.username == name)).scalar_one()


def _result(attempt: Attempt, theta: float | None, se: float | None, subscores=None) -> None:
    attempt.state = AttemptState.SUBMITTED
    attempt.finished_at = T0 + timedelta(hours=1)
    db.session.add(
        SectionResult(
            attempt_id=attempt.id,
            position=0,
            method="eap",
            theta=theta,
            se=se,
            number_correct=3,
            max_score=6,
            n_scored=6,
            n_answered=5,
            subscores=subscores or {},
            parameter_sets={},
            item_scores={},
            scored_at=attempt.finished_at,
        )
    )


def build_field(app, n: int = 4, *, sjt_for: int | None = None) -> int:
    """A knowledge test and an SJT (one section each), n candidates who sat both, two commission members.

    ``sjt_for`` limits the SJT results to the first candidates (the others have not sat it yet).
    """
    with app.app_context():
        bank_services.import_items(_bank_specs(), actor=None, source="test")
        tests = []
        for name, family, codes in (("Law", "knowledge", KNOWLEDGE), ("Judgement", "sjt", SJT)):
            definition = delivery.create_definition(
                name,
                [
                    {
                        "title": {"en": name},
                        "family": family,
                        "time_limit_seconds": 600,
                        "mode": "fixed",
                        "config": {"items": codes},
                    }
                ],
                actor=None,
            )
            session = delivery.create_session(
                definition, name=f"{name} room", opens_at=T0, closes_at=T0 + timedelta(hours=5), proctors=[], actor=None
            )
            tests.append((definition, session))
        people = []
        for i in range(n):
            people.append(
                account_services.create_user(
                    username=f"cand{i}", full_name=f"Candidate Number{i}", role=Role.CANDIDATE, password="x" * 12
                )
            )
        for i in range(2):
            account_services.create_user(
                username=f"member{i}", full_name=f"Member {i}", role=Role.COMMISSION, password="x" * 12
            )
        for i, person in enumerate(people):
            k = delivery.register(tests[0][1], person, actor=None).attempt
            s = delivery.register(tests[1][1], person, actor=None).attempt
            theta = KNOWLEDGE_THETA[i % 4] + (i // 4) * 0.1
            _result(
                k,
                theta,
                KNOWLEDGE_SE,
                {
                    "civil": {"theta": theta + 0.4, "se": 0.5, "n": 6, "too_few": False},
                    "criminal": {"theta": theta - 0.4, "se": 0.5, "n": 6, "too_few": False},
                    "ethics": {"theta": theta, "se": 0.9, "n": 2, "too_few": True},
                },
            )
            if sjt_for is None or i < sjt_for:
                _result(
                    s,
                    SJT_THETA[i % 4],
                    SJT_SE,
                    {
                        "integrity": {"theta": 0.8, "se": 0.4, "n": 5, "too_few": False},
                        "impartiality": {"theta": -0.6, "se": 0.45, "n": 5, "too_few": False},
                        "communication": {"theta": 0.1, "se": 0.8, "n": 5, "too_few": False},
                    },
                )
        db.session.commit()
        campaign = campaigns.create_campaign(
            name="Judges, spring round",
            stages=[
                campaigns.StagePlan("Knowledge", "test", 2.0, definition_id=tests[0][0].id, section_position=0),
                campaigns.StagePlan("SJT", "test", 1.0, definition_id=tests[1][0].id, section_position=0),
            ],
            members=[_user("member0"), _user("member1")],
            actor=_user("administrator"),
            now=NOW,
        )
        campaigns.enrol_from_sessions(campaign, actor=_user("administrator"), now=NOW)
        return campaign.id


def _campaign(campaign_id: int) -> Campaign:
    db.session.expire_all()
    return db.session.get(Campaign, campaign_id)


def _code(campaign: Campaign, username: str) -> str:
    return next(c.code for c in campaign.candidates if c.user.username == username)


@pytest.fixture
def field(app, users):
    return build_field(app)


def test_composite_and_its_se_match_the_hand_computation(app, field):
    with app.app_context():
        campaign = _campaign(field)
        standing = campaigns.standing(campaign)
        assert standing.problem is None
        trace = standing.result.trace(_code(campaign, "cand0"))
        # z = theta / SD; weights 2:1 normalised to 2/3 and 1/3
        w_k, w_s = 2 / 3, 1 / 3
        sd_k, sd_s = math.sqrt(0.5), 0.5
        expected = w_k * 1.0 / sd_k + w_s * 0.5 / sd_s
        expected_se = math.sqrt(w_k**2 * (KNOWLEDGE_SE / sd_k) ** 2 + w_s**2 * (SJT_SE / sd_s) ** 2)
        assert trace.composite == pytest.approx(expected, abs=1e-12)  # 1.27614...
        assert trace.se == pytest.approx(expected_se, abs=1e-12)  # 0.31269...
        assert trace.lower == pytest.approx(expected - 1.959964 * expected_se, abs=1e-5)
        assert [c.weight for c in trace.contributions] == pytest.approx([w_k, w_s])
        assert trace.rank == 1


def test_no_candidate_disappears_between_stages_by_default(app, users):
    campaign_id = build_field(app, n=6, sjt_for=5)
    with app.app_context():
        campaign = _campaign(campaign_id)
        standing = campaigns.standing(campaign)
        assert len(campaign.candidates) == 6
        assert sorted(standing.code_order()) == sorted(c.code for c in campaign.candidates)
        assert standing.removed == {} and standing.minimums is None
        # the weakest knowledge score is still ranked: it is compensated, not cut
        weakest = _code(campaign, "cand2")
        assert standing.ranked.trace(weakest).rank is not None
        # a candidate who has not sat the SJT yet is listed, without a composite, with the reason
        waiting = standing.result.trace(_code(campaign, "cand5"))
        assert waiting.composite is None and "SJT" in waiting.reason


def test_a_minimum_shows_its_cost_needs_a_reason_and_keeps_the_standardisation(app, field):
    with app.app_context():
        campaign = _campaign(field)
        stage = campaign.stages[0]
        screen = campaigns.preview_minimum(stage, -0.5)
        assert screen.removed == (_code(campaign, "cand2"),)
        with pytest.raises(campaigns.CampaignError, match="reason"):
            campaigns.set_minimum(stage, -0.5, reason=" ", actor=_user("administrator"))
        with pytest.raises(campaigns.CampaignError, match="changed since the preview"):
            campaigns.set_minimum(stage, -0.5, reason="law", actor=_user("administrator"), expected_removed=0)
        campaigns.set_minimum(stage, -0.5, reason="statutory minimum", actor=_user("administrator"), expected_removed=1)
        standing = campaigns.standing(_campaign(field))
        removed = _code(campaign, "cand2")
        assert standing.removed == {removed: ["Knowledge"]}
        assert removed not in standing.ranked.candidate_ids
        # the others' composites are exactly what they were: the reference is still the whole field
        first = _code(campaign, "cand0")
        assert standing.ranked.trace(first).composite == pytest.approx(standing.result.trace(first).composite)
        event = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "campaign.minimum_set")
        ).scalar_one()
        assert event.details["reason"] == "statutory minimum" and event.details["removed"] == 1


def test_ratings_enter_the_composite_as_the_interview_stage(app, field):
    with app.app_context():
        campaign = _campaign(field)
        interview = campaigns.CampaignStage(
            position=2,
            name="Interview",
            kind=campaigns.StageKind.RATED,
            weight=1.0,
            criteria=["integrity", "communication"],
        )
        campaign.stages.append(interview)
        db.session.commit()
        before = campaigns.standing(_campaign(field))
        # nobody interviewed yet: no composite for anyone, and the page says why
        assert before.result is None and "Interview" in before.problem
        assert "2 members" in next(g.problem for g in before.stages if g.name == "Interview")
        assert campaigns.profile(before, _code(campaign, "cand0"))["stages"][0]["score"] == 1.0
        members = [_user("member0"), _user("member1")]
        for i, candidate in enumerate(_campaign(field).candidates):
            for m, member in enumerate(members):
                campaigns.record_ratings(
                    interview,
                    candidate,
                    member,
                    {"integrity": 2 + i % 3 + m, "communication": 3 + (i % 2)},
                    now=NOW,
                )
        standing = campaigns.standing(_campaign(field))
        gathered = next(g for g in standing.stages if g.name == "Interview")
        assert gathered.problem is None and standing.ranked.n_ranked == 4
        panel = campaigns.panel_agreement(gathered)
        assert set(panel.by_competence) == {"integrity", "communication"}
        assert panel.overall is not None
        # a member outside the panel, a rating off the scale: refused, nothing written
        with pytest.raises(campaigns.CampaignError, match="commission members"):
            campaigns.record_ratings(interview, candidate, _user("administrator"), {"integrity": 3}, now=NOW)
        with pytest.raises(campaigns.CampaignError, match="from 1 to 5"):
            campaigns.record_ratings(interview, candidate, members[0], {"integrity": 3, "communication": 9}, now=NOW)
        assert campaigns.member_ratings(interview, candidate, members[0])["integrity"] == 2 + 3 % 3


def test_profile_names_strengths_probes_and_irregularities_without_item_content(app, field):
    with app.app_context():
        campaign = _campaign(field)
        code = _code(campaign, "cand0")
        attempt = db.session.execute(
            db.select(Attempt).join(Attempt.registration).where(Attempt.state == AttemptState.SUBMITTED)
        ).scalars().first()
        db.session.add(
            Irregularity(
                session_id=attempt.registration.session_id,
                attempt_id=attempt.id,
                category="environment",
                source="proctor",
                note="noise",
                at=T0,
            )
        )
        db.session.commit()
        profile = campaigns.profile(campaigns.standing(_campaign(field)), code)
        assert profile["strongest"]["name"] == "civil" and profile["weakest"]["name"] == "criminal"
        # probes: the least certain (communication, SE 0.8) before the lowest certain one (impartiality)
        assert [p["name"] for p in profile["probe"]] == ["communication", "impartiality"]
        assert profile["irregularities"][0]["note"] == "noise"
        text = repr(profile)
        for key in ("choice", "options", "key", "scoring"):
            assert f"'{key}'" not in text


def test_release_freezes_each_candidates_own_report(app, field):
    with app.app_context():
        campaign = _campaign(field)
        release = campaigns.release_results(campaign, actor=_user("administrator"), now=NOW, note="final")
        assert set(release.reports) == {c.code for c in campaign.candidates}
        me = _user("cand1")
        [(shown, _, report)] = campaigns.released_reports(me)
        assert shown.id == campaign.id
        assert [s["stage"] for s in report["stages"]] == ["Knowledge", "SJT"]
        assert "rank" not in repr(report) and "cand0" not in repr(report)
        assert campaigns.released_reports(_user("candidate")) == []


def test_enrolment_gives_unique_codes_once(app, field):
    with app.app_context():
        campaign = _campaign(field)
        codes = [c.code for c in campaign.candidates]
        assert len(set(codes)) == 4 and all(len(c) == campaigns.CODE_LENGTH for c in codes)
        assert campaigns.enrol_from_sessions(campaign, actor=_user("administrator"), now=NOW) == []
        assert db.session.scalar(db.select(db.func.count()).select_from(CampaignCandidate)) == 4


def test_a_campaign_with_bad_stages_is_refused_whole(app, users):
    with app.app_context():
        with pytest.raises(campaigns.CampaignError) as info:
            campaigns.create_campaign(
                name="x",
                stages=[
                    campaigns.StagePlan("A", "test", 0.0),
                    campaigns.StagePlan("A", "rated", 1.0, criteria=()),
                ],
                actor=_user("administrator"),
                now=NOW,
            )
        message = str(info.value)
        assert "Stage 1" in message and "weight" in message and "differ" in message and "criteria" in message
        assert db.session.scalar(db.select(db.func.count()).select_from(Campaign)) == 0
