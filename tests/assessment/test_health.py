"""/healthz: database, migration head and Redis, present, absent and down."""

from __future__ import annotations

import pytest

from assessment.health.services import migration_heads
from tests.assessment.conftest import REDIS_URL


def _head(app) -> list[str]:
    with app.app_context():
        return sorted(migration_heads())


def test_health_without_redis_configured(make_app):
    app = make_app(REDIS_URL=None)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["migrations"]["at_head"] is True and body["migrations"]["head"] == _head(app)
    assert body["redis"] == "not configured"


def test_health_with_redis_down_still_serves(make_app):
    # Nothing listens on port 1: a configured but unreachable Redis is reported, and the app still serves.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["redis"] == "unreachable"
    assert app.test_client().get("/sign-in").status_code == 200


@pytest.mark.skipif(not REDIS_URL, reason="needs TEST_REDIS_URL (CI sets it)")
def test_health_with_redis_up(make_app):
    app = make_app(REDIS_URL=REDIS_URL)
    assert app.test_client().get("/healthz").get_json()["redis"] == "ok"


def test_health_reports_a_schema_behind_the_migrations(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["migrations"] == {"current": [], "head": _head(app), "at_head": False}


def test_health_reports_an_unreachable_database(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False
