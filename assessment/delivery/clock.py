"""The one clock of an exam: the database's, so that every app server agrees on every deadline."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from assessment.extensions import db

_QUERIES = {
    "postgresql": "SELECT clock_timestamp() AT TIME ZONE 'UTC'",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def db_now() -> datetime:
    """Current UTC time from the database (naive, like every stored timestamp)."""
    dialect = db.session.get_bind().dialect.name
    query = _QUERIES.get(dialect)
    if query is None:
        return datetime.now(UTC).replace(tzinfo=None)
    value = db.session.execute(text(query)).scalar_one()
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value.replace(tzinfo=None)
