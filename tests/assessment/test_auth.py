"""Sign-in, sign-out and revocable sessions."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from assessment.audit.models import AuditEvent
from assessment.auth import services
from assessment.auth.models import AuthSession, User
from assessment.extensions import db
from tests.assessment.conftest import PASSWORD, sign_in


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(db.select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_sign_in_lands_on_the_role_home_page(app, client, users):
    response = sign_in(client, "psychometrician")
    assert response.status_code == 302
    assert client.get("/").headers["Location"].endswith("/bank/")
    assert client.get("/bank/").status_code == 200


def test_wrong_password_is_refused_and_audited(app, client, users):
    response = sign_in(client, "administrator", password="not the password")
    assert response.status_code == 401
    assert b"wrong password" in response.data
    assert client.get("/admin/").status_code == 302
    failures = _events(app, "auth.sign_in_failed")
    assert [e.details["username"] for e in failures] == ["administrator"]


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, users):
    unknown = sign_in(client, "nobody-here")
    wrong = sign_in(client, "proctor", password="wrong password!")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.data.count(b"Unknown user name or wrong password") == 1
    assert wrong.data.count(b"Unknown user name or wrong password") == 1


def test_passwords_are_stored_as_argon2id_hashes(app, users):
    with app.app_context():
        user = db.session.get(User, users["proctor"])
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_sign_out_makes_the_old_cookie_useless(app, client, users):
    sign_in(client, "administrator")
    stolen = client.get_cookie("session").value
    assert client.post("/sign-out").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/admin/").status_code == 302  # back to the sign-in page


def test_each_sign_in_gets_a_new_session_cookie(client, users):
    client.get("/sign-in")
    before = client.get_cookie("session")
    sign_in(client, "candidate")
    after = client.get_cookie("session").value
    assert before is None or before.value != after


def test_disabling_an_account_ends_its_sessions(app, client, users):
    sign_in(client, "candidate")
    assert client.get("/exam/").status_code == 200
    admin = app.test_client()
    sign_in(admin, "administrator")
    response = admin.post(
        f"/admin/users/{users['candidate']}",
        data={"full_name": "Candidate Test", "email": "", "role": "candidate", "language": "en"},
    )  # active unticked
    assert response.status_code == 302
    assert client.get("/exam/").status_code == 302
    assert sign_in(app.test_client(), "candidate").status_code == 401


def test_sign_out_everywhere_ends_every_session_of_the_account(app, users):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "proctor")
    sign_in(phone, "proctor")
    admin = app.test_client()
    sign_in(admin, "administrator")
    assert admin.post(f"/admin/users/{users['proctor']}/sign-out-everywhere").status_code == 302
    assert laptop.get("/proctor/").status_code == 302
    assert phone.get("/proctor/").status_code == 302
    [event] = _events(app, "auth.sessions_revoked")
    assert event.details["count"] == 2


def test_idle_session_expires(app, client, users):
    sign_in(client, "commission")
    with app.app_context():
        row = db.session.execute(db.select(AuthSession)).scalar_one()
        row.last_seen_at -= app.config["AUTH_IDLE_TIMEOUT"] + timedelta(seconds=1)
        db.session.commit()
    assert client.get("/commission/").status_code == 302
    with app.app_context():
        assert db.session.execute(db.select(AuthSession.revoked_reason)).scalar_one() == "idle"


def test_absolute_session_lifetime_is_enforced(app, client, users):
    sign_in(client, "commission")
    with app.app_context():
        row = db.session.execute(db.select(AuthSession)).scalar_one()
        row.created_at -= app.config["AUTH_ABSOLUTE_TIMEOUT"] + timedelta(seconds=1)
        db.session.commit()
    assert client.get("/commission/").status_code == 302


def test_the_cookie_holds_no_user_id_and_the_database_no_token(app, client, users):
    sign_in(client, "administrator")
    with client.session_transaction() as flask_session:
        token = flask_session["_user_id"]
    assert token != str(users["administrator"])
    with app.app_context():
        stored = db.session.execute(db.select(AuthSession.token_hash)).scalar_one()
    assert token not in stored and len(stored) == 64


def test_no_remember_me_cookie_is_ever_set(client, users):
    response = sign_in(client, "administrator", remember="y")
    assert "remember_token" not in response.headers.get("Set-Cookie", "")
    assert client.get_cookie("remember_token") is None


def test_sign_in_follows_only_local_next_links(client, users):
    response = sign_in(client, "administrator", next="https://evil.example/steal")
    assert response.headers["Location"] == "/"
    response = sign_in(client, "administrator", next="/admin/users/")
    assert response.headers["Location"] == "/"  # already signed in: the form redirects home first


def test_next_link_is_followed_after_sign_in(client, users):
    response = sign_in(client, "administrator", next="/admin/users/")
    assert response.headers["Location"] == "/admin/users/"


def test_password_change_revokes_sessions(app, client, users):
    sign_in(client, "proctor")
    with app.app_context():
        user = db.session.get(User, users["proctor"])
        services.set_password(user, "a brand new password", actor=None)
    assert client.get("/proctor/").status_code == 302
    assert sign_in(app.test_client(), "proctor", password="a brand new password").status_code == 302
