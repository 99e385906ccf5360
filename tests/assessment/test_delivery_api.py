"""The sitting and proctor APIs over HTTP: secrecy of keys and parameters, ownership, and the status codes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.bank import services as bank_services
from assessment.delivery import services
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt
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


# The heartbeat's pulse ------------------------------------------------------------------------------------

PULSE_FIELDS = {"state", "current_section", "remaining_seconds", "server_time", "view_version"}


def _pulse(candidate, headers):
    response = candidate.post("/api/v1/sitting/heartbeat", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _statements(app, call):
    """SQL statements one request sends (SQLAlchemy's cursor events), and its response."""
    seen: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        response = call()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return seen, response


def test_the_heartbeat_answers_a_small_pulse_without_items(app, room):
    candidate, _, headers, view = _started(app, room)
    pulse = _pulse(candidate, headers)
    assert set(pulse) == PULSE_FIELDS
    assert pulse["state"] == "in_progress" and pulse["current_section"] == 0
    assert 890 <= pulse["remaining_seconds"] <= 900
    assert pulse["view_version"] == view["view_version"]
    with app.app_context():
        server_now = db_now()
    assert abs((server_now - datetime.fromisoformat(pulse["server_time"])).total_seconds()) < 5
    body = candidate.post("/api/v1/sitting/heartbeat", headers=headers).get_data(as_text=True)
    for code in ITEMS:
        assert code not in body
    assert "stem" not in body and "options" not in body and "items" not in body
    # the full view, read when the version differs, carries the same version
    full = candidate.get("/api/v1/sitting").get_json()
    assert full["view_version"] == pulse["view_version"] and [i["code"] for i in full["items"]] == ITEMS
    # the token is opaque: nothing of the attempt's rows, the tab's token or the clock in it
    assert len(pulse["view_version"]) == 16 and "tab-token" not in pulse["view_version"]
    # a second tab is refused, as before
    assert (
        candidate.post("/api/v1/sitting/heartbeat", headers={"X-Sitting-Token": "other-tab-99"}).status_code
        == 409
    )


def test_the_heartbeat_reads_the_attempt_once_and_writes_only_when_due(app, room):
    candidate, _, headers, _ = _started(app, room)
    _pulse(candidate, headers)  # last_seen_at is fresh now
    seen, response = _statements(app, lambda: candidate.post("/api/v1/sitting/heartbeat", headers=headers))
    assert response.status_code == 200
    ours = [s for s in seen if "attempt" in s.lower()]
    assert len(ours) == 1, ours  # one read: attempt + its current section + the database clock
    assert not [s for s in seen if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))]
    assert len(seen) <= 3, seen  # the signed-in user, and the one read
    with app.app_context():
        db.session.execute(
            db.update(Attempt)
            .where(Attempt.id == room["attempt"])
            .values(last_seen_at=db_now() - timedelta(seconds=30))
        )
        db.session.commit()
    seen, response = _statements(app, lambda: candidate.post("/api/v1/sitting/heartbeat", headers=headers))
    writes = [s for s in seen if s.lstrip().upper().startswith("UPDATE")]
    assert response.status_code == 200 and len(writes) == 1 and "last_seen_at" in writes[0]
    with app.app_context():
        assert (db_now() - db.session.get(Attempt, room["attempt"]).last_seen_at).total_seconds() < 5


def test_the_view_version_changes_with_pause_extension_and_termination(app, room):
    candidate, proctor, headers, view = _started(app, room)
    versions = [view["view_version"]]
    assert _pulse(candidate, headers)["view_version"] == versions[-1]
    # the candidate's own saves do not change it (the page keeps its view up to date itself)
    candidate.post(
        "/api/v1/sitting/answers",
        headers=headers,
        json={"item": "K-00", "response": {"choice": 1}, "flagged": None, "seq": 1, "key": "v1"},
    )
    assert _pulse(candidate, headers)["view_version"] == versions[-1]

    attempt_url = f"/api/v1/proctor/attempts/{room['attempt']}"
    assert proctor.post(f"{attempt_url}/pause", json={"reason": "noise"}).status_code == 200
    pulse = _pulse(candidate, headers)
    assert pulse["state"] == "paused" and pulse["view_version"] not in versions
    versions.append(pulse["view_version"])
    full = candidate.get("/api/v1/sitting").get_json()
    assert full["state"] == "paused" and full["view_version"] == pulse["view_version"]

    assert proctor.post(f"{attempt_url}/resume", json={"reason": "quiet"}).status_code == 200
    pulse = _pulse(candidate, headers)
    assert pulse["state"] == "in_progress" and pulse["view_version"] not in versions
    versions.append(pulse["view_version"])

    before = pulse["remaining_seconds"]
    assert proctor.post(f"{attempt_url}/extend", json={"seconds": 600, "reason": "late"}).status_code == 200
    pulse = _pulse(candidate, headers)
    assert pulse["view_version"] not in versions and pulse["remaining_seconds"] >= before + 590
    versions.append(pulse["view_version"])
    assert candidate.get("/api/v1/sitting").get_json()["remaining_seconds"] >= before + 590

    assert proctor.post(f"{attempt_url}/terminate", json={"reason": "phone"}).status_code == 200
    pulse = _pulse(candidate, headers)
    assert pulse["state"] == "terminated" and pulse["remaining_seconds"] is None
    assert pulse["view_version"] not in versions
    full = candidate.get("/api/v1/sitting").get_json()
    assert (
        full["state"] == "terminated"
        and full["items"] == []
        and full["view_version"] == pulse["view_version"]
    )


def test_the_view_version_changes_when_the_proctor_releases_the_sitting(app, room):
    candidate, proctor, headers, view = _started(app, room)
    assert (
        proctor.post(f"/api/v1/proctor/attempts/{room['attempt']}/release", json={"reason": "pc"}).status_code
        == 200
    )
    # the old tab has lost its hold
    assert candidate.post("/api/v1/sitting/heartbeat", headers=headers).status_code == 409
    released = candidate.get("/api/v1/sitting").get_json()["view_version"]
    assert released != view["view_version"]
    new_tab = {"X-Sitting-Token": "new-machine-456"}
    candidate.post("/api/v1/sitting/check-in", json={"client_token": "new-machine-456"})
    assert _pulse(candidate, new_tab)["view_version"] not in (released,)


def test_the_view_version_changes_with_the_section_and_when_time_runs_out(app, room, users):
    with app.app_context():
        definition = services.create_definition(
            "Two parts",
            [
                {
                    "title": {"en": "One"},
                    "family": "knowledge",
                    "time_limit_seconds": 600,
                    "mode": "fixed",
                    "config": {"items": ["K-00", "K-01"]},
                },
                {
                    "title": {"en": "Two"},
                    "family": "sjt",
                    "time_limit_seconds": 60,
                    "mode": "fixed",
                    "config": {"items": ["S-00"]},
                },
            ],
            actor=None,
        )
        now = db_now()
        session = services.create_session(
            definition,
            name="Room C",
            opens_at=now - timedelta(hours=1),
            closes_at=now + timedelta(hours=2),
            proctors=[db.session.get(User, users["proctor"])],
            actor=None,
        )
        user = account_services.create_user(
            username="c4", full_name="C4", role=Role.CANDIDATE, password=PASSWORD
        )
        attempt_id = services.register(session, user, actor=None, language="en").attempt.id
    candidate = _client(app, "c4")
    headers = {"X-Sitting-Token": "tab-token-c4"}
    candidate.post("/api/v1/sitting/check-in", json={"client_token": "tab-token-c4"})
    waiting = _pulse(candidate, headers)
    assert waiting["state"] == "scheduled" and waiting["remaining_seconds"] is None
    proctor = _client(app, "proctor")
    assert proctor.post(f"/api/v1/proctor/attempts/{attempt_id}/admit").status_code == 200
    admitted = _pulse(candidate, headers)
    assert admitted["state"] == "admitted" and admitted["view_version"] != waiting["view_version"]
    view = candidate.post("/api/v1/sitting/start", headers=headers).get_json()
    assert view["view_version"] != admitted["view_version"]
    moved = candidate.post("/api/v1/sitting/sections/0/finish", headers=headers).get_json()
    assert moved["current_section"] == 1 and moved["view_version"] != view["view_version"]
    pulse = _pulse(candidate, headers)
    assert pulse["current_section"] == 1 and pulse["view_version"] == moved["view_version"]
    assert [i["code"] for i in candidate.get("/api/v1/sitting").get_json()["items"]] == ["S-00"]
    # the second section's time runs out while the tab is away: the next pulse closes it (the server's clock)
    with app.app_context():
        section = db.session.get(Attempt, attempt_id).sections[1]
        section.started_at = db_now() - timedelta(seconds=120)
        db.session.commit()
    pulse = _pulse(candidate, headers)
    assert pulse["state"] == "submitted" and pulse["view_version"] != moved["view_version"]
    with app.app_context():
        assert db.session.get(Attempt, attempt_id).sections[1].submitted_by == "server"


def test_starts_are_counted_as_exposure_rows_that_the_finaliser_moves_into_the_counters(app, room, users):
    from assessment.bank.models import Item, ItemVersion
    from assessment.delivery import finalizer
    from assessment.delivery.exposure import exposure_of
    from assessment.delivery.models import ItemExposure

    def counters():
        with app.app_context():
            items = db.session.execute(db.select(Item).where(Item.code.in_(ITEMS))).scalars().all()
            return (
                {i.code: i.times_administered for i in items},
                exposure_of(items),
                {i.code: i.current.times_administered for i in items},
                db.session.execute(db.select(db.func.count()).select_from(ItemExposure)).scalar_one(),
            )

    _started(app, room)
    counted, seen, versions, rows = counters()
    assert counted == dict.fromkeys(ITEMS, 0) and seen == dict.fromkeys(ITEMS, 1) and rows == 3
    assert versions == dict.fromkeys(ITEMS, 1)  # frozen at once: an edit makes a new version
    finalizer.run_once(app)
    counted, seen, versions, rows = counters()
    assert counted == seen == versions == dict.fromkeys(ITEMS, 1) and rows == 0

    # a second candidate in the same room: one more administration each, the versions counted once more
    with app.app_context():
        user = account_services.create_user(
            username="c5", full_name="C5", role=Role.CANDIDATE, password=PASSWORD
        )
        session = db.session.get(services.ExamSession, room["session"])
        attempt_id = services.register(session, user, actor=None, language="en").attempt.id
    second = _client(app, "c5")
    second.post("/api/v1/sitting/check-in", json={"client_token": "tab-token-c5"})
    assert _client(app, "proctor").post(f"/api/v1/proctor/attempts/{attempt_id}/admit").status_code == 200
    assert (
        second.post("/api/v1/sitting/start", headers={"X-Sitting-Token": "tab-token-c5"}).status_code == 200
    )
    counted, seen, versions, rows = counters()
    assert counted == dict.fromkeys(ITEMS, 1) and seen == dict.fromkeys(ITEMS, 2) and rows == 3
    finalizer.run_once(app)
    counted, seen, versions, rows = counters()
    assert counted == seen == versions == dict.fromkeys(ITEMS, 2) and rows == 0
    with app.app_context():
        assert sum(db.session.execute(db.select(ItemVersion.times_administered)).scalars()) == 6


def test_the_openapi_document_describes_the_pulse(client):
    spec = client.get("/api/openapi.json").get_json()
    heartbeat = spec["paths"]["/api/v1/sitting/heartbeat"]["post"]
    schema = heartbeat["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert schema.endswith("/PulseOut")
    assert set(spec["components"]["schemas"]["PulseOut"]["properties"]) == PULSE_FIELDS
    assert "view_version" in spec["components"]["schemas"]["SittingOut"]["properties"]
    assert "parameters" not in heartbeat
