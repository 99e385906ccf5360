"""Suite-wide checks: services that CI asks for must be there, or the run fails (it never skips)."""

from __future__ import annotations

import os

import pytest


def _check_database(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    from assessment.config import normalise_database_url

    try:
        engine = create_engine(normalise_database_url(url), connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"TEST_DATABASE_URL={url} is set but unreachable: {exc}"
    return None


def _check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, OSError) as exc:
        return f"TEST_REDIS_URL={url} is set but unreachable: {exc}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = []
    if url := os.environ.get("TEST_DATABASE_URL"):
        problems.append(_check_database(url))
    if url := os.environ.get("TEST_REDIS_URL"):
        problems.append(_check_redis(url))
    problems = [p for p in problems if p]
    if problems:
        pytest.exit("\n".join(problems), returncode=3)
