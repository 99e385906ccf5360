"""Migrations take an empty database to head, and the models agree with them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from assessment.extensions import db
from tests.assessment.conftest import POSTGRES_URL, reset_postgres_schema


def _fresh_url(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    reset_postgres_schema(POSTGRES_URL)
    return POSTGRES_URL


def test_upgrade_from_empty_matches_the_models_and_downgrades_cleanly(make_app, database_url, tmp_path):
    url = _fresh_url(database_url, tmp_path)
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, db.metadata)
            assert diff == [], f"models and migrations disagree: {diff}"
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            assert {"user_account", "auth_session", "audit_event", "item", "item_version"} <= set(
                inspect(db.engine).get_table_names()
            )
    finally:
        if url == POSTGRES_URL:
            # leave PostgreSQL as the other tests expect it: migrated to head (the fixture truncates rows)
            with app.app_context():
                db.engine.dispose()


def test_upgrading_a_database_with_rows_keeps_them(make_app, database_url, tmp_path):
    url = _fresh_url(database_url, tmp_path)
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade(revision="0001")
        db.session.execute(
            text(
                "INSERT INTO item (code, family, format, status, is_demo, created_at) "
                "VALUES ('K-OLD-1', 'knowledge', 'single_best', 'draft', false, CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
        upgrade()
        row = db.session.execute(text("SELECT code, tags, times_administered FROM item")).one()
        db.engine.dispose()
    assert row[0] == "K-OLD-1" and row[2] == 0 and row[1] in ([], "[]")
