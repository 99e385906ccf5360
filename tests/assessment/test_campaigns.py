"""Campaigns: every stage counts, the composite and its SE by hand, minimums off by default, ratings."""

from __future__ import annotations

import io
import math
from datetime import timedelta

import numpy as np
import pytest
from pypdf import PdfReader

from assessment.audit.models import AuditEvent
from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.delivery import services as delivery
from assessment.delivery.models import Attempt, AttemptState, ExamDefinition, Irregularity
from assessment.extensions import db
from assessment.results import campaigns
from assessment.results.models import Campaign, CampaignCandidate, SectionResult
from tests.assessment.conftest import PASSWORD, sign_in
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
                definition,
                name=f"{name} room",
                opens_at=T0,
                closes_at=T0 + timedelta(hours=5),
                proctors=[],
                actor=None,
            )
            tests.append((definition, session))
        people = []
        for i in range(n):
            people.append(
                account_services.create_user(
                    username=f"cand{i}",
                    full_name=f"Candidate Number{i}",
                    role=Role.CANDIDATE,
                    password="x" * 12,
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
                campaigns.StagePlan(
                    "Knowledge", "test", 2.0, definition_id=tests[0][0].id, section_position=0
                ),
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
        campaigns.set_minimum(
            stage, -0.5, reason="statutory minimum", actor=_user("administrator"), expected_removed=1
        )
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
            campaigns.record_ratings(
                interview, candidate, members[0], {"integrity": 3, "communication": 9}, now=NOW
            )
        assert campaigns.member_ratings(interview, candidate, members[0])["integrity"] == 2 + 3 % 3


def test_profile_names_strengths_probes_and_irregularities_without_item_content(app, field):
    with app.app_context():
        campaign = _campaign(field)
        code = _code(campaign, "cand0")
        attempt = (
            db.session.execute(
                db.select(Attempt).join(Attempt.registration).where(Attempt.state == AttemptState.SUBMITTED)
            )
            .scalars()
            .first()
        )
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


# Pages ----------------------------------------------------------------------------------------------------


def _client(app, username, password=PASSWORD):
    client = app.test_client()
    assert sign_in(client, username, password).status_code == 302
    return client


def _visit(client, url):
    """Open the page the form is on (CSRF itself is tested once for all forms in test_security)."""
    assert client.get(url).status_code == 200


def test_an_administrator_sets_up_a_campaign_through_the_form(app, users):
    build_field(app)
    client = _client(app, "administrator")
    with app.app_context():
        definitions = {d.name: d.id for d in db.session.execute(db.select(ExamDefinition)).scalars()}
        member = _user("member0").id
    _visit(client, "/campaigns/new")
    form = {
        "name": "Autumn round",
        "level": "0.9",
        "places": "2",
        "members": str(member),
        "stages-0-name": "Law",
        "stages-0-kind": "test",
        "stages-0-weight": "3",
        "stages-0-section": f"{definitions['Law']}:0",
        "stages-0-report_intercept": "500",
        "stages-0-report_slope": "100",
        "stages-0-report_decimals": "0",
        "stages-1-name": "Interview",
        "stages-1-kind": "rated",
        "stages-1-weight": "1",
        "stages-1-criteria": "integrity, communication",
        "stages-1-rating_min": "1",
        "stages-1-rating_max": "5",
    }
    response = client.post("/campaigns/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        campaign = db.session.execute(db.select(Campaign).where(Campaign.name == "Autumn round")).scalar_one()
        assert [(s.name, s.kind.value, s.weight) for s in campaign.stages] == [
            ("Law", "test", 3.0),
            ("Interview", "rated", 1.0),
        ]
        assert campaign.stages[1].criteria == ["integrity", "communication"]
        assert campaign.level == 0.9 and [m.username for m in campaign.members] == ["member0"]
    # a stage without a weight is refused with the reason, and nothing is created
    form["name"], form["stages-0-weight"] = "Broken", ""
    page = client.post("/campaigns/new", data=form).get_data(as_text=True)
    assert "Stage 1: the weight must be a number above 0" in page
    with app.app_context():
        assert db.session.execute(db.select(Campaign).where(Campaign.name == "Broken")).first() is None


def test_the_ranking_shows_everyone_with_bands_and_names_only_to_administrators(app, users):
    campaign_id = build_field(app, n=6, sjt_for=5)
    with app.app_context():
        campaign = _campaign(campaign_id)
        codes = {c.code for c in campaign.candidates}
    admin = _client(app, "administrator")
    page = admin.get(f"/campaigns/{campaign_id}/ranking?places=2").get_data(as_text=True)
    assert all(code in page for code in codes)
    assert "Candidate Number0" in page and "<svg" in page and "Classification consistency" in page
    member = _client(app, "member0", "x" * 12)
    page = member.get(f"/campaigns/{campaign_id}/ranking").get_data(as_text=True)
    assert all(code in page for code in codes) and "Candidate Number" not in page
    csv_text = member.get(f"/campaigns/{campaign_id}/ranking.csv").get_data(as_text=True)
    assert len(csv_text.strip().splitlines()) == 7 and "Candidate Number" not in csv_text
    assert "no score in stage 'SJT'" in csv_text
    # a commission member who is not on this campaign's panel does not see it at all
    outsider = _client(app, "commission")
    assert outsider.get(f"/campaigns/{campaign_id}/ranking").status_code == 404


def test_a_minimum_is_previewed_then_confirmed_with_a_reason(app, users):
    campaign_id = build_field(app)
    client = _client(app, "administrator")
    with app.app_context():
        stage_id = _campaign(campaign_id).stages[0].id
    url = f"/campaigns/{campaign_id}/stages/{stage_id}"
    _visit(client, url)
    preview = client.post(url, data={"minimum-minimum": "-0.5", "minimum-action": "preview"})
    page = preview.get_data(as_text=True)
    assert "would remove 1 of 4 candidates" in page
    with app.app_context():
        assert _campaign(campaign_id).stages[0].minimum is None  # a preview changes nothing
    confirmed = client.post(
        url,
        data={
            "minimum-minimum": "-0.5",
            "minimum-expected_removed": "1",
            "minimum-reason": "statutory",
            "minimum-action": "confirm",
        },
    )
    assert confirmed.status_code == 302
    with app.app_context():
        assert _campaign(campaign_id).stages[0].minimum == -0.5


def _add_interview(app, campaign_id):
    with app.app_context():
        campaign = _campaign(campaign_id)
        campaign.stages.append(
            campaigns.CampaignStage(
                position=2,
                name="Interview",
                kind=campaigns.StageKind.RATED,
                weight=1.0,
                criteria=["integrity"],
            )
        )
        db.session.commit()
        return campaign.stages[-1].id


def test_commission_members_rate_and_the_ranking_updates(app, users):
    campaign_id = build_field(app)
    stage_id = _add_interview(app, campaign_id)
    with app.app_context():
        codes = [c.code for c in _campaign(campaign_id).candidates]
    for m, username in enumerate(("member0", "member1")):
        client = _client(app, username, "x" * 12)
        for i, code in enumerate(codes):
            url = f"/campaigns/{campaign_id}/candidates/{code}"
            _visit(client, url)
            response = client.post(f"{url}/ratings/{stage_id}", data={"rating-integrity": str(1 + i + m)})
            assert response.status_code == 302
    with app.app_context():
        standing = campaigns.standing(_campaign(campaign_id))
        assert standing.ranked.n_ranked == 4
    page = client.get(f"/campaigns/{campaign_id}/agreement").get_data(as_text=True)
    assert "ICC(2,1)" in page and "integrity" in page
    # an administrator reads profiles but does not rate
    admin = _client(app, "administrator")
    _visit(admin, f"/campaigns/{campaign_id}/candidates/{codes[0]}")
    refused = admin.post(
        f"/campaigns/{campaign_id}/candidates/{codes[0]}/ratings/{stage_id}", data={"rating-integrity": "5"}
    )
    assert refused.status_code == 403


def test_the_pdf_report_holds_the_ranking_profiles_and_plots(app, users):
    campaign_id = build_field(app)
    with app.app_context():
        campaign = _campaign(campaign_id)
        first = _code(campaign, "cand0")
        standing = campaigns.standing(campaign, places=2)
        trace = standing.ranked.trace(first)
        codes = [c.code for c in campaign.candidates]
    client = _client(app, "member0", "x" * 12)
    response = client.get(f"/campaigns/{campaign_id}/report.pdf?places=2")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) >= 1 + len(codes)  # the ranking, then a page per candidate
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Judges, spring round" in text
    assert all(code in text for code in codes) and "Candidate Number" not in text  # coded for the commission
    assert f"{trace.composite:.3f}" in text and f"{trace.lower:.2f} … {trace.upper:.2f}" in text
    assert "Classification consistency" in text
    # the plots are drawn with their labels: the band chart's title and axis, and the sub-score names
    assert "Composite with 95% bands" in text and "Composite (standard-score units)" in text
    assert "Legal domains, 95% bands" in text and "criminal" in text and "impartiality" in text
    assert "Suggested areas to probe: communication, impartiality" in text
    for secret in ("choice", "scoring", '"key"'):
        assert secret not in text
    one = client.get(f"/campaigns/{campaign_id}/report.pdf?code={first}")
    single = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(one.data)).pages).split())
    assert first in single and "Rank range" not in single


def test_released_results_reach_only_their_candidate(app, users):
    campaign_id = build_field(app)
    admin = _client(app, "administrator")
    candidate = _client(app, "cand1", "x" * 12)
    assert "No results have been released" in candidate.get("/my/results").get_data(as_text=True)
    _visit(admin, f"/campaigns/{campaign_id}")
    assert admin.post(f"/campaigns/{campaign_id}/release", data={}).status_code == 302
    page = candidate.get("/my/results").get_data(as_text=True)
    with app.app_context():
        campaign = _campaign(campaign_id)
        mine = _code(campaign, "cand1")
        others = [c.code for c in campaign.candidates if c.code != mine]
    assert "Judges, spring round" in page and "Knowledge" in page and "Likely range" in page
    assert not any(code in page for code in others) and "Candidate Number0" not in page


# JSON API -----------------------------------------------------------------------------------------------


def test_the_api_gives_the_same_composite_and_traces_as_the_services(app, users):
    campaign_id = build_field(app)
    with app.app_context():
        campaign = _campaign(campaign_id)
        first = _code(campaign, "cand0")
        expected = campaigns.standing(campaign, places=2).ranked.trace(first)
    member = _client(app, "member0", "x" * 12)
    ranking = member.get(f"/api/v1/campaigns/{campaign_id}/ranking?places=2").get_json()
    [row] = [r for r in ranking["candidates"] if r["code"] == first]
    assert row["composite"]["composite"] == pytest.approx(expected.composite)
    assert row["composite"]["se"] == pytest.approx(expected.se)
    assert [s["stage"] for s in row["composite"]["stages"]] == ["Knowledge", "SJT"]
    assert row["at_cut"] == "above" and "name" not in row
    assert ranking["cut"]["places"] == 2 and len(ranking["candidates"]) == 4
    profile = member.get(f"/api/v1/campaigns/{campaign_id}/candidates/{first}").get_json()
    assert profile["strongest"]["name"] == "civil" and "name" not in profile
    admin = _client(app, "administrator")
    named = admin.get(f"/api/v1/campaigns/{campaign_id}/ranking").get_json()
    assert {r["name"] for r in named["candidates"]} == {f"Candidate Number{i}" for i in range(4)}
    assert "/api/v1/campaigns/{campaign_id}/ranking" in admin.get("/api/openapi.json").get_json()["paths"]


def test_ratings_and_release_through_the_api(app, users):
    campaign_id = build_field(app)
    stage_id = _add_interview(app, campaign_id)
    with app.app_context():
        code = _campaign(campaign_id).candidates[0].code
    member = _client(app, "member0", "x" * 12)
    url = f"/api/v1/campaigns/{campaign_id}/candidates/{code}/ratings/{stage_id}"
    assert member.put(url, json={"ratings": {"integrity": 4}}).get_json() == {"ratings": {"integrity": 4.0}}
    refused = member.put(url, json={"ratings": {"integrity": 7}})
    assert refused.status_code == 422 and "from 1 to 5" in refused.get_json()["message"]
    assert member.put(url, json={"ratings": {"honesty": 3}}).status_code == 422
    admin = _client(app, "administrator")
    created = admin.post(f"/api/v1/campaigns/{campaign_id}/release", json={"note": "round closed"})
    assert created.status_code == 422  # the interview has no panel agreement yet: nothing to release
    candidate = _client(app, "cand0", "x" * 12)
    assert candidate.get("/api/v1/my/results").get_json() == []


def test_the_profile_traces_the_composite_to_its_inputs(app, users):
    campaign_id = build_field(app)
    with app.app_context():
        campaign = _campaign(campaign_id)
        code = _code(campaign, "cand0")
    page = (
        _client(app, "member0", "x" * 12)
        .get(f"/campaigns/{campaign_id}/candidates/{code}")
        .get_data(as_text=True)
    )
    trace = page[page.index('id="trace"') :]
    # knowledge: score 1, mean 0, SD sqrt(1/2): z = 1.414, weight 2/3, contribution 0.9428
    assert "1.414" in trace and "0.667" in trace and "0.9428" in trace
    assert "Number0" not in page


def test_the_demo_round_is_ranked_with_every_stage_and_a_panel(app):
    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
    with app.app_context():
        campaign = db.session.execute(db.select(Campaign)).scalar_one()
        campaign_id = campaign.id
        standing = campaigns.standing(campaign)
        assert standing.problem is None and standing.ranked.n_ranked == 40
        interview = next(g for g in standing.stages if g.stage.kind is campaigns.StageKind.RATED)
        assert campaigns.panel_agreement(interview).overall.icc2k.value > 0.7
        # the written stages were scored by the product's own scoring from simulated answers
        knowledge = standing.stages[0].scores
        # 30 2PL items of the demo bank (a around 1): EAP SEs near 0.3-0.45; not 0 (no false precision), not
        # the prior's 1 (the answers were used)
        assert np.all(np.isfinite(knowledge.scores)) and np.all((knowledge.se > 0.1) & (knowledge.se < 0.6))
        # the demo commission member reads the round; they never see names
        client = app.test_client()
        assert sign_in(client, "commission", "demo-commission-pass").status_code == 302
    page = client.get(f"/campaigns/{campaign_id}/ranking").get_data(as_text=True)
    assert "Demo Candidate" not in page and page.count('<tr data-code="') == 40


def test_a_stage_is_rescored_with_a_corrected_key_keeping_history(app):
    from dataclasses import replace as replaced

    from assessment.bank import repository

    assert app.test_cli_runner().invoke(args=["demo", "load"]).exit_code == 0
    with app.app_context():
        campaign = db.session.execute(db.select(Campaign)).scalar_one()
        stage = campaign.stages[0]
        before = campaigns.gather_stage(stage, campaign.candidates)
        some = next(iter(before.evidence.values()))
        code = some.attempt.form["sections"][0]["items"][0]
        item = bank_services.find_item(code)
        spec = repository.spec_of(item)
        wrong = (spec.key["correct"] + 1) % spec.n_options
        bank_services.save_item(replaced(spec, key={"correct": wrong}), actor=_user("admin"))
        assert len(item.versions) == 2  # administered: the corrected key is a new version
        with pytest.raises(campaigns.CampaignError, match="reason"):
            campaigns.rescore_stage(stage, reason=" ", actor=_user("admin"), now=NOW, current_keys=True)
        n = campaigns.rescore_stage(
            stage, reason="key of item corrected", actor=_user("admin"), now=NOW, current_keys=True
        )
        assert n == 40
        after = campaigns.gather_stage(stage, _campaign(campaign.id).candidates)
        changed = 0
        for candidate_code, evidence in after.evidence.items():
            old = before.evidence[candidate_code].result
            new = evidence.result
            assert new.id != old.id and new.reason == "key of item corrected"
            history = (
                db.session.execute(
                    db.select(SectionResult).where(
                        SectionResult.attempt_id == evidence.attempt.id, SectionResult.position == 0
                    )
                )
                .scalars()
                .all()
            )
            assert [r.is_current for r in history] == [False, True]  # the old result is kept
            if old.item_scores[code] != new.item_scores[code]:
                changed += 1
                assert new.theta != old.theta
            else:
                assert new.theta == pytest.approx(old.theta)
        assert changed > 0
        assert (
            db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "campaign.stage_rescored"))
            .scalar_one()
            .details["attempts"]
            == 40
        )


def test_a_member_sees_the_panels_ratings_only_after_giving_their_own(app, users):
    campaign_id = build_field(app)
    stage_id = _add_interview(app, campaign_id)
    with app.app_context():
        campaign = _campaign(campaign_id)
        candidate = campaign.candidates[0]
        stage = db.session.get(campaigns.CampaignStage, stage_id)
        campaigns.record_ratings(stage, candidate, _user("member1"), {"integrity": 5}, now=NOW)
        code = candidate.code
    member = _client(app, "member0", "x" * 12)
    url = f"/campaigns/{campaign_id}/candidates/{code}"
    page = member.get(url).get_data(as_text=True)
    assert f'id="ratings-hidden-{stage_id}"' in page and "Mean rating" not in page
    member.post(f"{url}/ratings/{stage_id}", data={"rating-integrity": "3"})
    page = member.get(url).get_data(as_text=True)
    assert "Mean rating" in page and "4.00" in page  # (5 + 3) / 2
    admin_page = _client(app, "administrator").get(url).get_data(as_text=True)
    assert "Mean rating" in admin_page
    api = member.get(f"/api/v1/campaigns/{campaign_id}/candidates/{code}").get_json()
    assert api["stages"][2]["criteria"][0]["mean"] == 4.0
    other = _client(app, "member1", "x" * 12)
    other_view = other.get(
        f"/api/v1/campaigns/{campaign_id}/candidates/{campaign_codes(app, campaign_id)[1]}"
    )
    assert other_view.get_json()["stages"][2]["criteria"] is None  # member1 has not rated this one yet


def campaign_codes(app, campaign_id):
    with app.app_context():
        return [c.code for c in _campaign(campaign_id).candidates]
