"""flask users create and flask demo load."""

from __future__ import annotations

from assessment.auth.models import Role, User
from assessment.bank.models import Item, ItemFamily
from assessment.extensions import db
from tests.assessment.conftest import sign_in


def test_users_create_makes_an_account_with_the_role(app):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "ops",
            "--role",
            "administrator",
            "--password",
            "a good long password",
            "--full-name",
            "Ops",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created administrator 'ops'" in result.output
    with app.app_context():
        assert (
            db.session.execute(db.select(User.role).where(User.username == "ops")).scalar_one()
            is Role.ADMINISTRATOR
        )


def test_users_create_reports_a_taken_name(app, users):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "proctor", "--role", "proctor", "--password", "a good long password"]
    )
    assert result.exit_code == 1
    assert "already taken" in result.output


def test_demo_load_is_idempotent_and_prints_credentials(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "5 new account(s)" in first.output and "http://127.0.0.1:5000/sign-in" in first.output
    assert "A demo exam session is open" in first.output
    assert "A finished demo selection round" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert "0 new account(s), 0 new item(s), 0 demo parameter set(s)" in second.output
    assert "A finished demo selection round" not in second.output
    with app.app_context():
        roles = set(db.session.execute(db.select(User.role)).scalars())
        families = set(db.session.execute(db.select(Item.family)).scalars())
    assert roles == set(Role)
    assert families == {ItemFamily.KNOWLEDGE, ItemFamily.SJT}
    # every printed credential works
    for line in first.output.splitlines():
        if "password:" in line:
            _role, username, _label, password = line.split()
            assert sign_in(app.test_client(), username, password=password).status_code == 302, line


def test_demo_refuses_production(make_app, database_url):
    app = make_app()
    app.config["ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code != 0
    assert "never loaded in production" in str(result.exception)


def test_demo_bank_is_large_enough_and_calibrated(app):
    from collections import Counter

    from assessment.bank.models import ParameterSet, ParameterStatus

    app.test_cli_runner().invoke(args=["demo", "load"])
    with app.app_context():
        items = db.session.execute(db.select(Item)).scalars().all()
        domains = Counter(i.domain for i in items if i.family is ItemFamily.KNOWLEDGE)
        competences = Counter(i.competence for i in items if i.family is ItemFamily.SJT)
        assert sum(domains.values()) >= 120 and len(domains) >= 6
        assert sum(competences.values()) >= 40 and len(competences) >= 6
        assert all({"en", "ru"} <= set(i.current.content) for i in items)
        approved = (
            db.session.execute(db.select(ParameterSet).where(ParameterSet.status == ParameterStatus.APPROVED))
            .scalars()
            .all()
        )
        assert len(approved) == len(items) and all(p.is_demo for p in approved)
        assert all(p.provenance["source"].startswith("demo:") for p in approved)
        models = Counter(p.model for p in approved)
        assert models["2pl"] == sum(domains.values()) and models["grm"] == sum(competences.values())
