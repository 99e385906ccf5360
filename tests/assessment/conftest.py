"""Fixtures for the web app: a migrated database per test (SQLite, and PostgreSQL when CI provides it)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from assessment import create_app
from assessment.auth import services as account_services
from assessment.auth.models import Role, User
from assessment.config import normalise_database_url
from assessment.extensions import db

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
PASSWORD = "correct horse battery"

# Cheap argon2 parameters keep the suite fast; production uses the library's memory-hard profile.
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def base_config(database_url: str, instance: Path, **overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ARGON2_PARAMETERS": FAST_ARGON2,
        "REDIS_URL": REDIS_URL,
        "INSTANCE_PATH": str(instance),
    }
    config.update(overrides)
    return config


def _migrate(database_url: str, instance: Path) -> None:
    app = create_app(base_config(database_url, instance))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; every test gets a copy."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite"
    _migrate(f"sqlite:///{path}", folder)
    return path


def reset_postgres_schema(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    assert POSTGRES_URL, "PostgreSQL tests need TEST_DATABASE_URL"
    reset_postgres_schema(POSTGRES_URL)
    _migrate(POSTGRES_URL, tmp_path_factory.mktemp("pg-instance"))
    return POSTGRES_URL


def _truncate_postgres(url: str) -> None:
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the migration head with no rows, on each backend under test."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    _truncate_postgres(url)
    return url


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[object]:
    """Build an app on this test's database with config overrides; cleaned up after the test."""
    apps: list[Flask] = []

    def build(**overrides: object) -> Flask:
        app = create_app(base_config(database_url, tmp_path / "instance", **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app) -> Flask:  # type: ignore[no-untyped-def]
    app = make_app()
    if REDIS_URL:
        from assessment.extensions import redis_store

        redis_store.client_for(app).flushdb()
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def users(app: Flask) -> dict[str, User]:
    """One account per role plus a second candidate, keyed by user name."""
    created = {}
    with app.app_context():
        for role in Role:
            user = account_services.create_user(
                username=role.value, full_name=f"{role.value.title()} Test", role=role, password=PASSWORD
            )
            created[role.value] = user.id
        user = account_services.create_user(
            username="candidate2", full_name="Second Candidate", role=Role.CANDIDATE, password=PASSWORD
        )
        created["candidate2"] = user.id
    return created  # type: ignore[return-value]


def sign_in(
    client: FlaskClient,
    username: str,
    password: str = PASSWORD,
    *,  # type: ignore[no-untyped-def]
    environ_base: dict[str, str] | None = None,
    **form: str,
):
    data = {"username": username, "password": password, **form}
    return client.post("/sign-in", data=data, environ_base=environ_base or {})


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)
