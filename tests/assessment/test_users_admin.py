"""Administrators manage accounts in the UI; every change is audited."""

from __future__ import annotations

from assessment.audit.models import AuditEvent
from assessment.auth.models import Role, User
from assessment.extensions import db
from tests.assessment.conftest import sign_in


def _admin(app):
    client = app.test_client()
    sign_in(client, "administrator")
    return client


def test_administrator_creates_an_account_that_can_sign_in(app, users):
    admin = _admin(app)
    response = admin.post(
        "/admin/users/new",
        data={
            "username": "new.proctor",
            "full_name": "New Proctor",
            "email": "np@example.org",
            "role": "proctor",
            "language": "kk",
            "password": "long enough password",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.username == "new.proctor")).scalar_one()
        assert (user.role, user.language, user.email) == (Role.PROCTOR, "kk", "np@example.org")
        event = db.session.execute(
            db.select(AuditEvent)
            .where(AuditEvent.action == "user.created")
            .where(AuditEvent.target_id == str(user.id))
        ).scalar_one()
        assert event.actor_username == "administrator"
    assert sign_in(app.test_client(), "new.proctor", password="long enough password").status_code == 302


def test_duplicate_user_name_is_refused_with_a_clear_message(app, users):
    response = _admin(app).post(
        "/admin/users/new",
        data={
            "username": "Proctor",
            "full_name": "Dup",
            "role": "proctor",
            "language": "en",
            "password": "long enough password",
        },
    )
    assert response.status_code == 422
    assert b"is already taken" in response.data


def test_short_password_is_refused(app, users):
    response = _admin(app).post(
        "/admin/users/new",
        data={
            "username": "shorty",
            "full_name": "S",
            "role": "candidate",
            "language": "en",
            "password": "short",
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert (
            db.session.execute(db.select(User).where(User.username == "shorty")).scalar_one_or_none() is None
        )


def test_role_change_is_audited_with_old_and_new_values(app, users):
    response = _admin(app).post(
        f"/admin/users/{users['commission']}",
        data={
            "full_name": "Commission Test",
            "email": "",
            "role": "proctor",
            "language": "ru",
            "active": "y",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        event = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.action == "user.updated")
        ).scalar_one()
        assert event.details["changes"]["role"] == ["commission", "proctor"]
        assert event.details["changes"]["language"] == ["en", "ru"]


def test_administrator_cannot_disable_themselves(app, users):
    response = _admin(app).post(
        f"/admin/users/{users['administrator']}",
        data={"full_name": "Administrator Test", "email": "", "role": "administrator", "language": "en"},
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(User, users["administrator"]).active is True


def test_user_list_filters_by_role(app, users):
    page = _admin(app).get("/admin/users/?role=candidate").get_data(as_text=True)
    assert "candidate2" in page and ">proctor<" not in page


def test_unknown_user_id_is_404(app, users):
    assert _admin(app).get("/admin/users/99999").status_code == 404


def test_administrator_sets_a_new_password_and_old_sessions_end(app, users):
    victim = app.test_client()
    sign_in(victim, "candidate")
    admin = _admin(app)
    assert (
        admin.post(f"/admin/users/{users['candidate']}/password", data={"password": "short"}).status_code
        == 302
    )
    assert victim.get("/exam/").status_code == 200  # refused change: nothing happened
    admin.post(f"/admin/users/{users['candidate']}/password", data={"password": "a fresh long password"})
    assert victim.get("/exam/").status_code == 302
    assert sign_in(app.test_client(), "candidate", password="a fresh long password").status_code == 302
    with app.app_context():
        actions = db.session.execute(db.select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert "user.password_set" in actions
