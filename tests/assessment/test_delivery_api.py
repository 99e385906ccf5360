"""The sitting and proctor APIs over HTTP: secrecy of keys and parameters, ownership, and the status codes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.extensions import db
from tests.assessment.conftest import PASSWORD, sign_in
from tests.assessment.test_calibration import _bank_specs

ITEMS = ["K-00", "K-01", "S-00"]
# distinctive numbers that must never reach a candidate
PLANTED = {"K-00": (1.2345678, -0.8765432), "K-01": (0.9182736, 0.4455667), "S-00": (1.3579246, 0.2468013)}


@pytest.fixture
def room(app, users):
    with app.app_context():
        bank_services.import_items(_bank_specs(), actor=None, source="test")
        author = db.session.get(User, users["psychometrician"])
        second = account_services.create_user(
            username="p2", full_name="P2", role=Role.PSYCHOMETRICIAN, password=PASSWORD
        )
        for code, (a, b) in PLANTED.items():
            b_values = [b] if code.startswith("K") else [b, b + 1.1111111]
            model = "2pl" if code.startswith("K") else "grm"
            proposal = bank_services.propose_parameters(
                bank_services.find_item(code), model=model, a=a, b=b_values, provenance={}, actor=author
            )
            bank_services.approve_parameters(proposal, actor=second)
        definition = services.create_definition(
            "Exam",
            [
                {
                    "title": {"en": "All"},
                    "family": "knowledge",
                    "time_limit_seconds": 900,
                    "mode": "fixed",
                    "config": {"items": ITEMS},
                }
            ],
            actor=None,
        )
        now = db_now()
        session = services.create_session(
            definition,
            name="Room A",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(hours=3),
            proctors=[db.session.get(User, users["proctor"])],
            actor=None,
        )
        other_proctor = account_services.create_user(
            username="proctor2", full_name="Other Proctor", role=Role.PROCTOR, password=PASSWORD
        )
        other_session = services.create_session(
            definition,
            name="Room B",
            opens_at=now,
            closes_at=now + timedelta(hours=3),
            proctors=[other_proctor],
            actor=None,
        )
        registration = services.register(
            session, db.session.get(User, users["candidate"]), actor=None, language="en"
        )
        services.register(other_session, db.session.get(User, users["candidate2"]), actor=None)
        return {"session": session.id, "other_session": other_session.id, "attempt": registration.attempt.id}


def _client(app, who):
    client = app.test_client()
    assert sign_in(client, who).status_code == 302
    return client


def _started(app, room):
    candidate = _client(app, "candidate")
    headers = {"X-Sitting-Token": "tab-token-123"}
    assert (
        candidate.post("/api/v1/sitting/check-in", json={"client_token": "tab-token-123"}).status_code == 200
    )
    proctor = _client(app, "proctor")
    assert proctor.post(f"/api/v1/proctor/attempts/{room['attempt']}/admit").status_code == 200
    started = candidate.post("/api/v1/sitting/start", headers=headers)
    assert started.status_code == 200
    return candidate, proctor, headers, started.get_json()


def test_the_candidate_sees_text_and_time_but_no_key_or_parameter(app, room):
    candidate, _, headers, view = _started(app, room)
    assert view["state"] == "in_progress" and 895 <= view["remaining_seconds"] <= 900
    assert [i["code"] for i in view["items"]] == ITEMS
    candidate.post(
        "/api/v1/sitting/answers",
        headers=headers,
        json={"item": "K-00", "response": {"choice": 1}, "flagged": None, "seq": 1, "key": "a1"},
    )
    bodies = [
        candidate.get("/api/v1/sitting").get_data(as_text=True),
        candidate.post("/api/v1/sitting/heartbeat", headers=headers).get_data(as_text=True),
        candidate.get("/exam/sitting").get_data(as_text=True),
        candidate.get("/exam/").get_data(as_text=True),
        candidate.get("/static/js/sitting.js").get_data(as_text=True),
        candidate.post(
            "/api/v1/sitting/answers",
            headers=headers,
            json={"item": "K-00", "response": {"choice": 9}, "seq": 2, "key": "a2"},
        ).get_data(as_text=True),
    ]
    planted = [repr(v) for pair in PLANTED.values() for v in pair] + ["1.1111111"]
    for body in bodies:
        for value in planted:
            assert value[:8] not in body
    data = json.loads(bodies[0])
    allowed_item_fields = {"code", "format", "stem", "options", "stimulus", "answer", "seq", "flagged"}
    assert all(set(item) == allowed_item_fields for item in data["items"])
    assert "correct" not in bodies[0] and '"key"' not in bodies[0] and "ratings" not in bodies[0]


def test_saves_answer_with_the_documented_status_codes(app, room):
    candidate, proctor, headers, _ = _started(app, room)
    save = {"item": "K-01", "response": {"choice": 2}, "flagged": None, "seq": 1, "key": "k1"}
    first = candidate.post("/api/v1/sitting/answers", headers=headers, json=save)
    assert first.status_code == 200 and first.get_json()["applied"]
    assert candidate.post("/api/v1/sitting/answers", headers=headers, json=save).get_json()["replayed"]
    assert (
        candidate.post(
            "/api/v1/sitting/answers", headers=headers, json={**save, "response": {"choice": 3}}
        ).status_code
        == 422
    )
    assert (
        candidate.post(
            "/api/v1/sitting/answers", headers={"X-Sitting-Token": "someone-else"}, json={**save, "key": "k2"}
        ).status_code
        == 409
    )
    proctor.post(f"/api/v1/proctor/attempts/{room['attempt']}/pause", json={"reason": "noise"})
    paused = candidate.post("/api/v1/sitting/answers", headers=headers, json={**save, "key": "k3", "seq": 3})
    assert paused.status_code == 409 and "paused" in paused.get_json()["message"]
    assert (
        candidate.post("/api/v1/sitting/answers", headers=headers, json={**save, "extra": 1}).status_code
        == 422
    )


def test_a_proctor_controls_only_their_own_sessions(app, room):
    _started(app, room)
    other = _client(app, "proctor2")
    assert other.get(f"/api/v1/proctor/sessions/{room['session']}/grid").status_code == 404
    assert other.get(f"/proctor/sessions/{room['session']}").status_code == 404
    for action in ("pause", "terminate", "release"):
        assert (
            other.post(
                f"/api/v1/proctor/attempts/{room['attempt']}/{action}", json={"reason": "x"}
            ).status_code
            == 404
        )
    assert (
        other.post(
            f"/api/v1/proctor/attempts/{room['attempt']}/extend", json={"seconds": 60, "reason": "x"}
        ).status_code
        == 404
    )
    own = _client(app, "proctor").get(f"/api/v1/proctor/sessions/{room['session']}/grid").get_json()
    assert [r["state"] for r in own["rows"]] == ["in_progress"]


def test_the_grid_shows_progress_time_and_signals(app, room):
    candidate, proctor, headers, _ = _started(app, room)
    candidate.post(
        "/api/v1/sitting/answers",
        headers=headers,
        json={"item": "K-00", "response": {"choice": 0}, "flagged": None, "seq": 1, "key": "g1"},
    )
    candidate.post("/api/v1/sitting/signals", json={"signal": "focus_lost"})
    proctor.post(
        f"/api/v1/proctor/sessions/{room['session']}/irregularities",
        json={"attempt": room["attempt"], "category": "environment", "note": "=cmd|' /C calc'!A0"},
    )
    proctor.post(
        f"/api/v1/proctor/attempts/{room['attempt']}/extend", json={"seconds": 120, "reason": "late start"}
    )
    row = proctor.get(f"/api/v1/proctor/sessions/{room['session']}/grid").get_json()["rows"][0]
    assert (row["answered"], row["items"], row["signals"], row["irregularities"]) == (1, 3, 1, 1)
    assert 1015 <= row["remaining_seconds"] <= 1020 and row["online"]
    csv_text = proctor.get(f"/proctor/sessions/{room['session']}/irregularities.csv").get_data(as_text=True)
    assert "focus_lost" in csv_text and "'=cmd" in csv_text  # a formula-like note is defused


def test_a_candidate_without_a_registration_gets_404(app, room):
    lonely = app.test_client()
    with app.app_context():
        account_services.create_user(username="c3", full_name="C3", role=Role.CANDIDATE, password=PASSWORD)
    sign_in(lonely, "c3")
    assert lonely.get("/api/v1/sitting").status_code == 404
