"""The audit trail is a hash chain: altering or deleting a row is detected."""

from __future__ import annotations

from sqlalchemy import text

from assessment.audit import services as audit
from assessment.extensions import db
from tests.assessment.conftest import sign_in


def _fill(app, n=5):
    with app.app_context():
        for i in range(n):
            audit.record("test.event", target_type="Thing", target_id=i, note=f"event {i}")
        db.session.commit()


def test_untouched_chain_verifies(app):
    _fill(app)
    with app.app_context():
        report = audit.verify_chain()
    assert report.ok and report.checked == 5


def test_an_altered_row_is_detected(app):
    _fill(app)
    with app.app_context():
        db.session.execute(text("UPDATE audit_event SET target_id = '99' WHERE id = 3"))
        db.session.commit()
        report = audit.verify_chain()
    assert not report.ok and report.first_bad_id == 3 and "altered" in report.problem


def test_a_deleted_row_is_detected(app):
    _fill(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_event WHERE id = 2"))
        db.session.commit()
        report = audit.verify_chain()
    assert not report.ok and report.first_bad_id == 3 and "removed" in report.problem


def test_sign_in_and_out_are_audited_with_request_id_and_address(app, users):
    client = app.test_client()
    sign_in(client, "proctor")
    client.post("/sign-out")
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT action, actor_username, ip_address, request_id FROM audit_event "
                "WHERE action LIKE 'auth.%' ORDER BY id"
            )
        ).all()
        assert audit.verify_chain().ok
    assert [r[0] for r in rows] == ["auth.sign_in", "auth.sign_out"]
    assert all(r[1] == "proctor" and r[2] == "127.0.0.1" and len(r[3]) == 36 for r in rows)


def test_no_password_reaches_the_audit_log(app, users):
    sign_in(app.test_client(), "proctor", password="my secret guess 123")
    with app.app_context():
        dump = " ".join(str(r) for r in db.session.execute(text("SELECT * FROM audit_event")).all())
    assert "my secret guess 123" not in dump
