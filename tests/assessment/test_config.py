"""Configuration: development defaults and production's refusals."""

from __future__ import annotations

import pytest

from assessment import create_app
from assessment.config import ConfigurationError, build_config


def test_production_refuses_to_start_without_its_settings(tmp_path):
    with pytest.raises(ConfigurationError) as excinfo:
        build_config(str(tmp_path), {"ENV": "production"})
    message = str(excinfo.value)
    for name in ("ASSESSMENT_SECRET_KEY", "ASSESSMENT_DATABASE_URL", "ASSESSMENT_REDIS_URL"):
        assert name in message


def test_production_names_only_what_is_missing(tmp_path):
    with pytest.raises(ConfigurationError, match=r"without ASSESSMENT_REDIS_URL \("):
        build_config(
            str(tmp_path),
            {
                "ENV": "production",
                "SECRET_KEY": "k" * 32,
                "SQLALCHEMY_DATABASE_URI": "postgresql://db/tandau",
            },
        )


def test_production_refuses_sqlite(tmp_path):
    with pytest.raises(ConfigurationError, match="must be a PostgreSQL URL"):
        build_config(
            str(tmp_path),
            {
                "ENV": "production",
                "SECRET_KEY": "k" * 32,
                "REDIS_URL": "redis://r",
                "SQLALCHEMY_DATABASE_URI": "sqlite:///x.db",
            },
        )


def test_production_uses_secure_host_cookies_and_psycopg3(tmp_path):
    config = build_config(
        str(tmp_path),
        {
            "ENV": "production",
            "SECRET_KEY": "k" * 32,
            "REDIS_URL": "redis://r",
            "SQLALCHEMY_DATABASE_URI": "postgres://u@db/tandau",
        },
    )
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/tandau"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://r"


def test_development_generates_a_secret_key_once_into_the_instance_folder(tmp_path):
    first = build_config(str(tmp_path), {})
    second = build_config(str(tmp_path), {})
    assert len(first["SECRET_KEY"]) == 64 and first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'tandau.sqlite'}"


def test_environment_variables_configure_the_app(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSESSMENT_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    monkeypatch.setenv("ASSESSMENT_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("ASSESSMENT_SECRET_KEY", "from-the-environment")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.sqlite")
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert app.config["SECRET_KEY"] == "from-the-environment"


def test_sqlite_runs_in_write_ahead_log_mode_with_a_patient_lock_wait(tmp_path):
    from assessment import create_app
    from assessment.extensions import db
    from tests.assessment.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'wal.sqlite'}", tmp_path / "instance"))
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        db.engine.dispose()


def test_the_development_server_runs_the_delivery_job_from_its_first_request(tmp_path, monkeypatch):
    from assessment import create_app
    from assessment.delivery import finalizer
    from tests.assessment.conftest import base_config

    calls = []
    monkeypatch.setattr(finalizer, "start_thread", lambda app, every: calls.append(every))
    config = base_config(f"sqlite:///{tmp_path / 'f.sqlite'}", tmp_path / "instance", ENV="development")
    app = create_app(config)
    assert calls == []  # building the app (as CLI commands do) starts nothing
    app.test_client().get("/healthz")
    app.test_client().get("/healthz")
    assert calls == [10.0]
    testing = create_app(base_config(f"sqlite:///{tmp_path / 'g.sqlite'}", tmp_path / "instance2"))
    testing.test_client().get("/healthz")
    assert calls == [10.0]
