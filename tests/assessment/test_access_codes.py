"""One-time access codes: issued by administrators, shown once, stored hashed, valid only in the session's
window and until the sitting ends, one sign-in at a time, rate-limited and audited."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta

from assessment.access_codes import services as access_codes
from assessment.access_codes.models import AccessCode
from assessment.audit.models import AuditEvent
from assessment.auth.models import AuthSession, Role, User
from assessment.delivery import services as delivery
from assessment.delivery.clock import db_now
from assessment.delivery.models import Attempt, ExamSession, Irregularity, Registration
from assessment.extensions import db
from tests.assessment.conftest import sign_in
from tests.assessment.test_delivery_api import _client
from tests.assessment.test_delivery_api import room as room  # the fixture, reused

CODE_PATTERN = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b")


def _issue(app, session_id: int) -> dict[str, str]:
    """Codes for every registration of the session, by candidate user name."""
    with app.app_context():
        session = db.session.get(ExamSession, session_id)
        issued = access_codes.issue_codes(session, session.registrations, actor=None, now=db_now())
        return {entry.registration.candidate.username: entry.code for entry in issued}


def _code_sign_in(client, code: str, address: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post("/sign-in/code", data={"code": code}, environ_base={"REMOTE_ADDR": address})


def _actions(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(db.select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_the_sign_in_page_offers_the_access_code_form(client):
    page = client.get("/sign-in").get_data(as_text=True)
    assert (
        'action="/sign-in/code"' in page and 'name="code"' in page and 'autocomplete="one-time-code"' in page
    )


def test_an_administrator_issues_codes_shown_once_and_stored_only_hashed(app, users, room):
    admin = _client(app, "administrator")
    before = admin.get(f"/admin/sessions/{room['session']}/access-codes")
    assert before.status_code == 200 and "C-" in before.get_data(as_text=True)
    page = admin.post(f"/admin/sessions/{room['session']}/access-codes", data={"issue_all": "1"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    codes = CODE_PATTERN.findall(html)
    assert len(codes) == 1  # one registration in this session
    csv_text = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", html).group(1)).decode("utf-8")
    assert codes[0] in csv_text and "candidate_code,full_name" in csv_text
    with app.app_context():
        row = db.session.execute(db.select(AccessCode)).scalar_one()
        assert row.code_hash == hashlib.sha256(codes[0].replace("-", "").encode()).hexdigest()
        assert row.issued_by_id == users["administrator"]
    # Shown once: the page listing codes afterwards shows when it was issued, never the code.
    assert codes[0] not in admin.get(f"/admin/sessions/{room['session']}/access-codes").get_data(as_text=True)
    assert [e.details["candidate_code"] for e in _actions(app, "access_code.issued")] != []


def test_codes_for_selected_candidates_only_and_never_for_another_session(app, users, room):
    admin = _client(app, "administrator")
    with app.app_context():
        own = db.session.get(Attempt, room["attempt"]).registration_id
        foreign = db.session.execute(
            db.select(Registration.id).where(Registration.session_id == room["other_session"])
        ).scalar_one()
    url = f"/admin/sessions/{room['session']}/access-codes"
    assert admin.post(url, data={"issue_selected": "1"}).status_code == 422  # nothing selected
    assert admin.post(url, data={"issue_selected": "1", "registrations": [foreign]}).status_code == 422
    assert (
        len(
            CODE_PATTERN.findall(
                admin.post(url, data={"issue_selected": "1", "registrations": [own]}).get_data(as_text=True)
            )
        )
        == 1
    )
    with app.app_context():
        assert db.session.execute(db.select(AccessCode.registration_id)).scalars().all() == [own]


def test_only_administrators_issue_codes(app, users, room):
    url = f"/admin/sessions/{room['session']}/access-codes"
    for who in ("proctor", "candidate", "psychometrician", "commission"):
        assert _client(app, who).post(url, data={"issue_all": "1"}).status_code == 403
    anonymous = app.test_client().post(url, data={"issue_all": "1"})
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]
    with app.app_context():
        assert db.session.execute(db.select(AccessCode)).first() is None


def test_a_candidate_signs_in_with_the_code_however_it_is_typed(app, room):
    code = _issue(app, room["session"])["candidate"]
    client = app.test_client()
    typed = code.lower().replace("-", " ")
    response = _code_sign_in(client, typed)
    assert response.status_code == 302
    assert client.get("/api/v1/sitting").get_json()["state"] == "scheduled"
    events = _actions(app, "auth.sign_in")
    assert events[-1].details["method"] == "access_code" and events[-1].details["uses"] == 1


def test_a_wrong_code_is_refused_and_audited(app, room):
    _issue(app, room["session"])
    client = app.test_client()
    response = _code_sign_in(client, "ABCD-EFGH-JKMN")
    assert response.status_code == 401 and "not valid" in response.get_data(as_text=True)
    assert client.get("/api/v1/sitting").status_code == 401
    assert _code_sign_in(client, "").status_code == 422
    assert _actions(app, "auth.sign_in_failed")[-1].details["reason"] == "unknown access code"


def test_a_replaced_code_is_refused_and_the_new_one_works(app, room):
    old = _issue(app, room["session"])["candidate"]
    new = _issue(app, room["session"])["candidate"]
    assert old != new
    assert _code_sign_in(app.test_client(), old).status_code == 401
    assert _code_sign_in(app.test_client(), new).status_code == 302
    assert _actions(app, "access_code.issued")[-1].details["replaced"] is True


def test_a_code_of_a_finished_sitting_is_refused(app, room):
    code = _issue(app, room["session"])["candidate"]
    with app.app_context():
        attempt = db.session.get(Attempt, room["attempt"])
        proctor = attempt.registration.session.proctors[0]
        delivery.terminate(attempt, reason="test", actor=proctor, now=db_now())
    response = _code_sign_in(app.test_client(), code)
    assert response.status_code == 401 and "sitting has ended" in response.get_data(as_text=True)


def test_a_code_of_a_disabled_or_no_longer_candidate_account_is_refused(app, users, room):
    code = _issue(app, room["session"])["candidate"]
    with app.app_context():
        user = db.session.get(User, users["candidate"])
        user.role = Role.PROCTOR  # staff sign in with a password (and a second factor), never a code
        db.session.commit()
    assert _code_sign_in(app.test_client(), code).status_code == 401
    with app.app_context():
        user = db.session.get(User, users["candidate"])
        user.role, user.active = Role.CANDIDATE, False
        db.session.commit()
    assert _code_sign_in(app.test_client(), code).status_code == 401


def test_a_code_works_only_in_the_session_window(app, room):
    code = _issue(app, room["session"])["candidate"]

    def move_window(opens_in: timedelta, closes_in: timedelta) -> None:
        with app.app_context():
            session = db.session.get(ExamSession, room["session"])
            now = db_now()
            session.opens_at, session.closes_at = now + opens_in, now + closes_in
            db.session.commit()

    move_window(timedelta(hours=2), timedelta(hours=5))
    too_early = _code_sign_in(app.test_client(), code)
    assert too_early.status_code == 401 and "works from" in too_early.get_data(as_text=True)
    move_window(timedelta(minutes=20), timedelta(hours=3))  # within the early sign-in allowance
    assert _code_sign_in(app.test_client(), code).status_code == 302
    move_window(timedelta(hours=-4), timedelta(minutes=-1))
    closed = _code_sign_in(app.test_client(), code)
    assert closed.status_code == 401 and "has closed" in closed.get_data(as_text=True)


def test_a_started_sitting_that_runs_past_closing_time_can_still_be_resumed(app, room):
    code = _issue(app, room["session"])["candidate"]
    with app.app_context():
        attempt = db.session.get(Attempt, room["attempt"])
        now = db_now()
        delivery.check_in(attempt, "tab-1", now=now)
        delivery.admit(attempt, actor=attempt.registration.session.proctors[0], now=now)
        delivery.start(attempt, "tab-1", now=now)
        session = db.session.get(ExamSession, room["session"])
        session.closes_at = now - timedelta(minutes=1)  # extra time carries the sitting past closing
        db.session.commit()
    assert _code_sign_in(app.test_client(), code).status_code == 302


def test_signing_in_again_with_the_code_ends_the_first_sign_in_and_tells_the_proctor(app, room):
    code = _issue(app, room["session"])["candidate"]
    first, second = app.test_client(), app.test_client()
    assert _code_sign_in(first, code).status_code == 302
    assert _code_sign_in(second, code, address="10.0.0.2").status_code == 302
    assert first.get("/api/v1/sitting").status_code == 401  # one sign-in at a time
    assert second.get("/api/v1/sitting").status_code == 200
    with app.app_context():
        live = db.session.execute(db.select(AuthSession).where(AuthSession.revoked_at.is_(None))).scalars()
        assert len(list(live)) == 1
        signal = db.session.execute(db.select(Irregularity)).scalar_one()
        assert signal.category == access_codes.SIGNED_IN_AGAIN and "10.0.0.2" in signal.note
    grid = _client(app, "proctor").get(f"/api/v1/proctor/sessions/{room['session']}/grid").get_json()
    assert grid["rows"][0]["signals"] == 1


def test_failed_codes_are_rate_limited_per_address_but_successes_are_not(make_app, app, room):
    codes = _issue(app, room["session"])
    limited = make_app(RATELIMIT_ENABLED=True, ACCESS_CODE_FAILURES_PER_IP="3 per 15 minutes")
    # A whole room behind one address signs in without tripping the limit ...
    for _ in range(5):
        assert _code_sign_in(limited.test_client(), codes["candidate"], "10.5.5.5").status_code == 302
    # ... while guessing from one address is stopped after three failures, even with a right code after.
    guesser = limited.test_client()
    statuses = [_code_sign_in(guesser, f"ABCD-EFGH-JK{n}{n}", "10.6.6.6").status_code for n in range(2, 6)]
    assert statuses == [401, 401, 401, 429]
    assert _code_sign_in(limited.test_client(), codes["candidate"], "10.6.6.6").status_code == 429
    assert _code_sign_in(limited.test_client(), codes["candidate"], "10.7.7.7").status_code == 302
    # Password sign-in has its own limits and still works.
    assert (
        sign_in(limited.test_client(), "proctor", environ_base={"REMOTE_ADDR": "10.6.6.6"}).status_code == 302
    )
