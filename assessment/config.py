"""Configuration: safe defaults for development, ``ASSESSMENT_*`` environment variables for production."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

ENV_PREFIX = "ASSESSMENT_"
LANGUAGES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}


class ConfigurationError(RuntimeError):
    """The app cannot start with the given configuration; the message says what to set."""


class Defaults:
    """Values every environment starts from; production overrides come from the environment."""

    ENV = "development"
    # The development server (one process) runs the delivery job in a thread, started by its first request:
    # overdue sections closed, exposure rows counted. Production runs `flask delivery finalize --every 10`.
    DELIVERY_FINALIZER_SECONDS: float | None = 10.0
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    REDIS_URL: str | None = None
    # Redis is a helper, never in the commit path: fail fast rather than stall a request.
    REDIS_SOCKET_TIMEOUT = 0.5

    LANGUAGES = LANGUAGES
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"

    # A CSRF token lives as long as the (revocable, server-side) sign-in session; Flask-WTF's default of one
    # hour would make saves fail in the middle of a four-hour exam.
    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Sign-in sessions: idle and absolute limits (ASVS L2). Candidates in an exam keep theirs alive by saving.
    AUTH_IDLE_TIMEOUT = timedelta(minutes=30)
    AUTH_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    AUTH_TOUCH_INTERVAL = timedelta(seconds=60)

    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # With Redis down the limiter counts in per-process memory instead (the limits still hold, per process)
    # within half a second, and goes back to Redis once it answers again (see tests/.../test_redis_loss.py).
    RATELIMIT_STORAGE_OPTIONS: ClassVar[dict[str, float]] = {
        "socket_timeout": 0.5,
        "socket_connect_timeout": 0.5,
    }
    # An exam room signs in at once from behind one NAT address: 200 candidates must not wait minutes.
    # Guessing one account is held by the per-account limits; this one stops one address spraying accounts.
    LOGIN_LIMIT_PER_IP = "300 per minute"
    LOGIN_LIMIT_PER_ACCOUNT_AND_IP = "10 per 15 minutes"
    LOGIN_LIMIT_PER_ACCOUNT = "100 per hour"
    # Access codes carry no user name, so failed tries are counted per address only; a room behind one NAT
    # address signs in at once, so successful sign-ins are not counted (a code holds 60 random bits).
    ACCESS_CODE_FAILURES_PER_IP = "30 per 15 minutes"
    # A code works this long before its session opens (candidates arrive and check in early).
    ACCESS_CODE_EARLY = timedelta(minutes=30)


def _read_environment() -> dict[str, Any]:
    """Collect ``ASSESSMENT_*`` variables that the app understands."""
    mapping = {
        "ENV": "ENV",
        "SECRET_KEY": "SECRET_KEY",
        "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "REDIS_URL": "REDIS_URL",
    }
    found: dict[str, Any] = {}
    for suffix, key in mapping.items():
        value = os.environ.get(ENV_PREFIX + suffix)
        if value:
            found[key] = value
    return found


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short forms."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _instance_secret_key(instance_path: Path) -> str:
    """Read the development secret key from the instance folder, creating it on first run."""
    path = instance_path / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def build_config(instance_path: str, test_config: dict[str, Any] | None) -> dict[str, Any]:
    """Merge defaults, the environment (unless testing with a mapping) and checks into one mapping."""
    config = {k: v for k, v in vars(Defaults).items() if k.isupper()}
    config.update(_read_environment() if test_config is None else test_config)
    instance = Path(instance_path)

    if config["ENV"] == "production":
        missing = [
            ENV_PREFIX + name
            for name, key in (
                ("SECRET_KEY", "SECRET_KEY"),
                ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"),
                ("REDIS_URL", "REDIS_URL"),
            )
            if not config.get(key)
        ]
        if missing:
            raise ConfigurationError(
                "refusing to start in production without "
                + ", ".join(missing)
                + " (set them in the environment)"
            )
        if not normalise_database_url(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
            raise ConfigurationError(
                f"{ENV_PREFIX}DATABASE_URL must be a PostgreSQL URL in production, "
                f"got {config['SQLALCHEMY_DATABASE_URI'].split(':', 1)[0]!r}"
            )
        config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_NAME="__Host-session")
    config.setdefault("SQLALCHEMY_DATABASE_URI", f"sqlite:///{instance / 'tandau.sqlite'}")
    config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _instance_secret_key(instance)
    if config.get("REDIS_URL") and config.get("RATELIMIT_STORAGE_URI", "memory://") == "memory://":
        config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"]
    return config
