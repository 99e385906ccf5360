"""What /healthz reports."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from assessment.extensions import db, migrate, redis_store


def migration_heads() -> set[str]:
    config = migrate.get_config()
    return set(ScriptDirectory.from_config(config).get_heads())


def check() -> tuple[dict[str, Any], bool]:
    """Return the report and whether the app can serve (database up and schema at head)."""
    report: dict[str, Any] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
        report["database"] = {"ok": True, "dialect": db.engine.dialect.name}
    except SQLAlchemyError as exc:
        report["database"] = {"ok": False, "error": type(exc).__name__}
        current = set()
    heads = migration_heads()
    report["migrations"] = {"current": sorted(current), "head": sorted(heads), "at_head": current == heads}
    report["redis"] = redis_store.status(current_app._get_current_object())
    healthy = report["database"]["ok"] and report["migrations"]["at_head"]
    report["status"] = "ok" if healthy else "unavailable"
    return report, healthy
