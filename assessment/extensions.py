"""Extension objects, created unbound and attached to an app in ``create_app``."""

from __future__ import annotations

from typing import Literal

import redis
from flask import Flask, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# A naming convention keeps constraint names identical on SQLite and PostgreSQL, so Alembic can alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


RedisStatus = Literal["ok", "not configured", "unreachable"]


class RedisStore:
    """Optional Redis: a client when ``REDIS_URL`` is set, ``None`` otherwise; never required to serve."""

    def __init__(self) -> None:
        self._clients: dict[int, redis.Redis] = {}

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL")
        if url:
            timeout = app.config["REDIS_SOCKET_TIMEOUT"]
            self._clients[id(app)] = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
            )
        app.extensions["redis_store"] = self

    def client_for(self, app: Flask) -> redis.Redis | None:
        return self._clients.get(id(app))

    def status(self, app: Flask) -> RedisStatus:
        client = self.client_for(app)
        if client is None:
            return "not configured"
        try:
            client.ping()
        except (redis.RedisError, OSError):
            return "unreachable"
        return "ok"


class AppLimiter(Limiter):
    """Flask-Limiter, with a fresh app starting on its configured storage.

    The limiter remembers "storage unreachable" on the (module-level) object, not per app, and then probes the
    storage again only after a back-off of up to 32 s; an app created after a Redis outage (a restarted worker
    in tests, or a second app in one process) must not inherit that verdict and count in memory.
    """

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        self._storage_dead = False


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
redis_store = RedisStore()
limiter = AppLimiter(key_func=get_remote_address)


def login_username_key() -> str:
    """Rate-limit key for sign-in attempts on one account (case-folded user name)."""
    return "user:" + (request.form.get("username") or "").strip().casefold()


def login_username_ip_key() -> str:
    """Rate-limit key for one account from one address, so an attacker elsewhere cannot lock a user out."""
    return f"{login_username_key()}@{get_remote_address()}"
