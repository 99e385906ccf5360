"""The one clock of an exam: the database's, so that every app server agrees on every deadline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import literal_column, text

from assessment.extensions import db

_QUERIES = {
    "postgresql": "SELECT clock_timestamp() AT TIME ZONE 'UTC'",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


def now_column() -> Any:
    """The database clock as a column, to read it in the same statement as the rows it is compared with."""
    query = _QUERIES.get(db.session.get_bind().dialect.name)
    return literal_column(query.removeprefix("SELECT ") if query else "CURRENT_TIMESTAMP").label("db_now")


def as_naive_utc(value: Any) -> datetime:
    """A value of :func:`now_column` as a naive UTC datetime (SQLite gives a string)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value.replace(tzinfo=None)


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
