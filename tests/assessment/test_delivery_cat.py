"""Adaptive (CAT) sections in a sitting: one question at a time, theta on the server, stopping, scoring."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from assessment.bank import repository
from assessment.bank import services as bank_services
from assessment.bank.models import Item, ItemVersion, ParameterSet
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.exposure import exposure_of
from assessment.delivery.models import Attempt, AttemptState, SectionState
from assessment.extensions import db
from assessment.results.models import SectionResult
from item_bank.items import ItemSpec, LanguageVersion
from item_bank.section_scoring import score_section
from tests.assessment.conftest import sign_in
from tests.assessment.test_delivery import TOKEN, _attempt, _threads, _user, postgres_only

T0 = datetime(2026, 12, 1, 9, 0, 0)
DOMAINS = ("civil", "criminal")
# distinctive slopes and difficulties that must never reach a candidate
PLANTED_A = 1.7654321
PLANTED_B = 0.3141592


def _codes() -> list[str]:
    return [f"A-{d}-{i:02d}" for d in DOMAINS for i in range(12)]


def _pool(app, *, slope: float = 1.5, planted: bool = False) -> None:
    """24 operational knowledge items in two domains, difficulties -2.2 to 2.2, approved 2PL parameters."""
    specs = [
        ItemSpec(
            code,
            "single_best",
            {"en": LanguageVersion(f"Question {code}?", ("a", "b", "c", "d"))},
            {"correct": 0},
            status="operational",
            domain=code.split("-")[1],
        )
        for code in _codes()
    ]
    with app.app_context():
        bank_services.import_items(specs, actor=None, source="test")
        author, approver = _user("psychometrician"), _user("administrator")
        for n, spec in enumerate(specs):
            a, b = (PLANTED_A, PLANTED_B + n / 100) if planted else (slope, -2.2 + 4.4 * n / (len(specs) - 1))
            proposal = bank_services.propose_parameters(
                bank_services.find_item(spec.code), model="2pl", a=a, b=[b], provenance={}, actor=author
            )
            bank_services.approve_parameters(proposal, actor=approver)


def _definition(app, config, *, seconds: int = 600, then_fixed: bool = False) -> int:
    """A test with one adaptive section (and a fixed one after it), a session, the candidate registered."""
    sections = [
        {
            "title": {"en": "Law, adaptive"},
            "family": "knowledge",
            "time_limit_seconds": seconds,
            "mode": "cat",
            "config": config,
        }
    ]
    if then_fixed:
        sections.append(
            {
                "title": {"en": "Law, fixed"},
                "family": "knowledge",
                "time_limit_seconds": 300,
                "mode": "fixed",
                "config": {"items": ["A-civil-00"]},
            }
        )
    with app.app_context():
        definition = services.create_definition("Adaptive", sections, actor=None)
        now = db_now()
        session = services.create_session(
            definition,
            name="Room C",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(hours=5),
            proctors=[_user("proctor")],
            actor=None,
        )
        return services.register(session, _user("candidate"), actor=None, language="en").attempt.id


def _begin(attempt_id: int, at: datetime = T0) -> Attempt:
    attempt = _attempt(attempt_id)
    services.check_in(attempt, TOKEN, now=at)
    services.admit(attempt, actor=_user("proctor"), now=at)
    services.start(attempt, TOKEN, now=at)
    return _attempt(attempt_id)


def _pending(attempt_id: int, position: int = 0) -> str | None:
    return (_attempt(attempt_id).sections[position].adaptive_state or {}).get("pending")


def _answer(attempt_id: int, item: str, choice: int, n: int, at: datetime = T0) -> None:
    services.save_answer(
        _attempt(attempt_id),
        client_token=TOKEN,
        item=item,
        response={"choice": choice},
        flagged=None,
        seq=n,
        key=f"{item}-{n}",
        now=at,
    )


def _take(attempt_id: int, *, correct_below: float = 0.4, limit: int = 100) -> list[str]:
    """Answer every question (right when its difficulty is below ``correct_below``) until the section ends."""
    shown = []
    for n in range(1, limit + 1):
        item = _pending(attempt_id)
        if item is None:
            break
        shown.append(item)
        b = bank_services.find_item(item).approved_parameters.b[0]
        _answer(attempt_id, item, 0 if b < correct_below else 1, n)
        assert services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item=item, now=T0)
    return shown


def _expected_score(attempt: Attempt, codes: list[str]):
    """item_bank's scoring of the given items with the attempt's pinned versions and parameters."""
    from assessment.delivery.models import CurrentAnswer

    specs = [
        repository.spec_of(
            bank_services.find_item(c), db.session.get(ItemVersion, attempt.form["versions"][c])
        )
        for c in codes
    ]
    answers = {
        a.item_code: a.response
        for a in db.session.execute(
            db.select(CurrentAnswer).where(CurrentAnswer.attempt_id == attempt.id)
        ).scalars()
    }
    sets = [db.session.get(ParameterSet, attempt.pinned_parameters[c]) for c in codes]
    return score_section(specs, answers, repository.item_parameters_of(sets))


def _result(attempt_id: int, position: int = 0) -> SectionResult:
    return db.session.execute(
        db.select(SectionResult).where(
            SectionResult.attempt_id == attempt_id,
            SectionResult.position == position,
            SectionResult.is_current,
        )
    ).scalar_one()


def test_an_adaptive_section_ends_at_its_maximum_length_and_is_scored_on_what_was_given(app, users):
    _pool(app)
    attempt_id = _definition(
        app,
        {
            "selection": "max_info",
            "stop": {"max_length": 6},
            "blueprint": {"counts": {"civil": 1, "criminal": 1}},
        },
        then_fixed=True,
    )
    with app.app_context():
        attempt = _begin(attempt_id)
        assert attempt.form["sections"][0]["mode"] == "cat"
        # every pool item has its version and parameter set pinned, so the scoring is reproducible
        assert set(attempt.pinned_parameters) >= set(_codes())
        assert set(attempt.form["versions"]) >= set(_codes())
        shown = _take(attempt_id)
        attempt = _attempt(attempt_id)
        assert len(shown) == 6 and len(set(shown)) == 6
        assert sum(code.startswith("A-civil") for code in shown) == 3  # content balanced 1:1
        assert attempt.sections[0].state is SectionState.SUBMITTED
        assert attempt.sections[0].adaptive_state["finished"] == "max_length"
        assert attempt.current_section == 1 and attempt.sections[1].state is SectionState.OPEN
        assert attempt.form["sections"][0]["items"] == shown
        expected = _expected_score(attempt, shown)
        result = _result(attempt_id)
        assert result.n_scored == 6 and result.number_correct == expected.number_correct
        assert result.theta == pytest.approx(expected.theta) and result.se == pytest.approx(expected.se)
        # exposure: the six administered items (and the fixed section's one), never the rest of the pool;
        # exposure control sees them at once, the counters once the finaliser has moved the rows
        pending = exposure_of(db.session.execute(db.select(Item)).scalars().all())
        assert {c for c, n in pending.items() if n} == set(shown) | {"A-civil-00"}
        services.aggregate_exposure()
        counts = dict(db.session.execute(db.select(Item.code, Item.times_administered)).all())
        assert counts == pending
        assert {c for c, n in counts.items() if n} == set(shown) | {"A-civil-00"}
        assert counts["A-civil-00"] == 1 + ("A-civil-00" in shown)


def test_an_adaptive_section_stops_once_the_standard_error_is_small_enough(app, users):
    _pool(app, slope=2.5)
    attempt_id = _definition(app, {"selection": "randomesque", "stop": {"target_se": 0.45, "max_length": 20}})
    with app.app_context():
        _begin(attempt_id)
        shown = _take(attempt_id, correct_below=0.0)
        attempt = _attempt(attempt_id)
        state = attempt.sections[0].adaptive_state
        assert state["finished"] == "target_se" and len(shown) < 20 and state["se"] <= 0.45
        assert attempt.state is AttemptState.SUBMITTED
        assert _result(attempt_id).n_scored == len(shown)


def test_a_retried_next_changes_nothing_and_there_is_no_going_back(app, users):
    _pool(app)
    attempt_id = _definition(app, {"stop": {"max_length": 5}})
    with app.app_context():
        _begin(attempt_id)
        first = _pending(attempt_id)
        with pytest.raises(services.DeliveryError, match="no flags"):
            services.save_answer(
                _attempt(attempt_id),
                client_token=TOKEN,
                item=first,
                response=None,
                flagged=True,
                seq=1,
                key="f1",
                now=T0,
            )
        _answer(attempt_id, first, 0, 1)
        assert services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item=first, now=T0)
        second = _pending(attempt_id)
        step = _attempt(attempt_id).sections[0].adaptive_step
        assert second != first
        # the retry (a lost response, a double click) answers with the same next question
        assert not services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item=first, now=T0)
        assert _pending(attempt_id) == second and _attempt(attempt_id).sections[0].adaptive_step == step
        assert exposure_of([bank_services.find_item(second)]) == {second: 1}
        with pytest.raises(services.Conflict, match="not the current question"):
            _answer(attempt_id, first, 1, 2)
        with pytest.raises(services.Conflict, match="not the current question"):
            services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item="A-civil-11", now=T0)
        assert _attempt(attempt_id).sections[0].adaptive_state["responses"] == [1]


@postgres_only
def test_concurrent_next_calls_commit_one_answer_and_select_one_item(app, users, database_url):
    _pool(app)
    attempt_id = _definition(app, {"stop": {"max_length": 5}})
    with app.app_context():
        _begin(attempt_id)
        first = _pending(attempt_id)
        _answer(attempt_id, first, 0, 1)
    results, errors = _threads(
        app,
        20,
        lambda i: services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item=first, now=T0),
    )
    assert errors == [] and sorted(results) == [False] * 19 + [True]
    with app.app_context():
        section = _attempt(attempt_id).sections[0]
        assert section.adaptive_step == 2 and section.adaptive_state["items"] == [first]
        services.aggregate_exposure()
        administered = db.session.execute(db.select(Item.code).where(Item.times_administered > 0)).scalars()
        assert set(administered) == {first, section.adaptive_state["pending"]}


def test_time_running_out_closes_and_scores_an_adaptive_section(app, users):
    _pool(app)
    attempt_id = _definition(app, {"stop": {"max_length": 10}}, seconds=60)
    with app.app_context():
        _begin(attempt_id)
        first = _pending(attempt_id)
        _answer(attempt_id, first, 0, 1)
        services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item=first, now=T0)
        second = _pending(attempt_id)
        _answer(attempt_id, second, 0, 2)  # saved, but Next never pressed: the answer still counts
        assert services.finalize_overdue(now=T0 + timedelta(seconds=30)) == 0
        assert services.finalize_overdue(now=T0 + timedelta(seconds=70)) == 1
        attempt = _attempt(attempt_id)
        assert attempt.state is AttemptState.SUBMITTED and attempt.sections[0].submitted_by == "server"
        assert attempt.form["sections"][0]["items"] == [first, second]
        result = _result(attempt_id)
        assert result.n_scored == 2 and result.theta == pytest.approx(
            _expected_score(attempt, [first, second]).theta
        )
        with pytest.raises(services.TimeIsUp):
            services.next_question(
                attempt, 0, client_token=TOKEN, item=second, now=T0 + timedelta(seconds=71)
            )


def test_a_malformed_adaptive_design_is_refused_when_the_test_is_created(app, users):
    with app.app_context(), pytest.raises(services.DeliveryError, match="selection must be one of"):
        services.create_definition(
            "Bad",
            [
                {
                    "title": {"en": "x"},
                    "family": "knowledge",
                    "time_limit_seconds": 60,
                    "mode": "cat",
                    "config": {"selection": "best_guess", "stop": {"max_length": 5}},
                }
            ],
            actor=None,
        )


def _api(app, who):
    client = app.test_client()
    assert sign_in(client, who).status_code == 302
    return client


def test_the_candidate_api_shows_one_question_and_never_a_parameter(app, users):
    _pool(app, planted=True)
    attempt_id = _definition(app, {"stop": {"max_length": 4}})
    candidate, proctor = _api(app, "candidate"), _api(app, "proctor")
    headers = {"X-Sitting-Token": "tab-token-cat"}
    bodies = [candidate.post("/api/v1/sitting/check-in", json={"client_token": "tab-token-cat"})]
    assert proctor.post(f"/api/v1/proctor/attempts/{attempt_id}/admit").status_code == 200
    view = candidate.post("/api/v1/sitting/start", headers=headers).get_json()
    session_id = _session_of(app, attempt_id)
    for n in range(1, 5):
        assert view["sections"][0]["adaptive"] and view["question_number"] == n
        assert len(view["items"]) == 1 and view["sections"][0]["allow_review"] is False
        code = view["items"][0]["code"]
        save = {"item": code, "response": {"choice": n % 2}, "flagged": None, "seq": n, "key": f"c{n}"}
        bodies.append(candidate.post("/api/v1/sitting/answers", headers=headers, json=save))
        grid = proctor.get(f"/api/v1/proctor/sessions/{session_id}/grid").get_json()["rows"][0]
        assert (grid["answered"], grid["items"]) == (n, 4)
        step = candidate.post("/api/v1/sitting/sections/0/next", headers=headers, json={"item": code})
        retry = candidate.post("/api/v1/sitting/sections/0/next", headers=headers, json={"item": code})
        assert step.status_code == retry.status_code == 200
        assert step.get_json()["items"] == retry.get_json()["items"]  # a retried Next: the same question
        bodies += [step, retry, candidate.get("/api/v1/sitting")]
        view = step.get_json()
    assert view["state"] == "submitted" and view["items"] == []
    bodies.append(
        candidate.post("/api/v1/sitting/sections/0/next", headers=headers, json={"item": "x", "y": 1})
    )
    assert bodies[-1].status_code == 422
    planted = [repr(PLANTED_A)[:8], repr(PLANTED_B)[:6]]
    for body in bodies:
        text = body.get_data(as_text=True)
        assert not any(value in text for value in planted)
        for secret in ('"theta"', '"se"', '"pool"', '"correct"', '"key"', "pretest_plan", "responses"):
            assert secret not in text, (secret, text)
    shown = json.loads(bodies[3].get_data(as_text=True))["items"]  # the view after the first Next
    assert [set(i) for i in shown] == [
        {"code", "format", "stem", "options", "stimulus", "answer", "seq", "flagged"}
    ]


def _session_of(app, attempt_id: int) -> int:
    with app.app_context():
        return db.session.get(Attempt, attempt_id).registration.session_id


def test_an_administrator_creates_an_adaptive_section_from_the_form(app, users, client):
    sign_in(client, "administrator")
    response = client.post(
        "/admin/tests/new",
        data={
            "name": "Adaptive round",
            "sections-0-title_en": "Law",
            "sections-0-family": "knowledge",
            "sections-0-mode": "cat",
            "sections-0-minutes": "40",
            "sections-0-max_length": "25",
            "sections-0-target_se": "0.3",
            "sections-0-selection": "randomesque",
            "sections-0-content_targets": "civil: 3, criminal: 2",
            "sections-0-allow_review": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        from assessment.delivery.models import ExamDefinition

        section = db.session.execute(db.select(ExamDefinition)).scalar_one().sections[0]
        assert section.mode.value == "cat" and section.allow_review is False
        assert section.config == {
            "selection": "randomesque",
            "stop": {"max_length": 25, "target_se": 0.3},
            "blueprint": {"counts": {"civil": 3, "criminal": 2}},
        }
    refused = client.post(
        "/admin/tests/new",
        data={
            "name": "Broken",
            "sections-0-title_en": "Law",
            "sections-0-family": "knowledge",
            "sections-0-mode": "cat",
            "sections-0-minutes": "40",
            "sections-0-content_targets": "civil three",
        },
    )
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Give the largest number of questions" in page and "civil three" in page


def test_a_terminated_adaptive_section_keeps_the_items_it_administered(app, users):
    _pool(app)
    attempt_id = _definition(app, {"stop": {"max_length": 5}})
    with app.app_context():
        _begin(attempt_id)
        shown = []
        for n in (1, 2):
            shown.append(_pending(attempt_id))
            _answer(attempt_id, shown[-1], 0, n)
            services.next_question(_attempt(attempt_id), 0, client_token=TOKEN, item=shown[-1], now=T0)
        services.terminate(_attempt(attempt_id), actor=_user("proctor"), reason="phone in use", now=T0)
        attempt = _attempt(attempt_id)
        assert attempt.state is AttemptState.TERMINATED
        assert attempt.form["sections"][0]["items"] == shown  # the third was shown but never answered
