"""Use cases of accounts and sign-in; each public function owns its commit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from assessment.audit import services as audit
from assessment.auth.models import AuthSession, Role, User, utcnow
from assessment.extensions import db


def _hasher_and_dummy() -> tuple[PasswordHasher, str]:
    """argon2id (memory-hard) with ``ARGON2_PARAMETERS``; by default the library's RFC 9106 profile.

    The dummy hash is verified for unknown user names, so that a sign-in with one takes as long as a real one.
    """
    pair = current_app.extensions.get("password_hasher")
    if pair is None:
        hasher = PasswordHasher(**current_app.config.get("ARGON2_PARAMETERS", {}))
        pair = current_app.extensions["password_hasher"] = (hasher, hasher.hash(secrets.token_urlsafe(16)))
    return pair


MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A use case was refused; the message is safe to show to the person who asked."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters long")
    return _hasher_and_dummy()[0].hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(username: str) -> User | None:
    return db.session.execute(
        db.select(User).where(db.func.lower(User.username) == username.strip().lower())
    ).scalar_one_or_none()


def authenticate(username: str, password: str, *, ip: str | None, user_agent: str | None) -> User | None:
    """Check credentials; on success open a new server-side session on the returned user."""
    user = find_user(username)
    hasher, dummy_hash = _hasher_and_dummy()
    try:
        hasher.verify(user.password_hash if user else dummy_hash, password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        audit.record(
            "auth.sign_in_failed",
            target_type="User",
            target_id=getattr(user, "id", None),
            username=username[:80],
            reason="inactive" if user and not user.active else "bad credentials",
        )
        db.session.commit()
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    session_row = open_session(user, ip=ip, user_agent=user_agent)
    audit.record("auth.sign_in", actor=user, target=user)
    db.session.commit()
    user.current_auth_session = session_row
    return user


def open_session(user: User, *, ip: str | None, user_agent: str | None) -> AuthSession:
    """Add a server-side sign-in session for ``user`` (the caller commits); its raw token is on the row."""
    token = secrets.token_urlsafe(32)
    session_row = AuthSession(
        user=user, token_hash=_token_hash(token), ip_address=ip, user_agent=(user_agent or "")[:300]
    )
    session_row.raw_token = token
    user.last_login_at = utcnow()
    db.session.add(session_row)
    return session_row


def load_session_user(token: str, *, now: datetime | None = None) -> User | None:
    """Return the user of a live session token, or None if it is unknown, revoked, expired or disabled."""
    now = now or utcnow()
    row = db.session.execute(
        db.select(AuthSession).where(AuthSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    cfg = current_app.config
    if now - row.created_at > cfg["AUTH_ABSOLUTE_TIMEOUT"]:
        _revoke(row, "expired", now)
        db.session.commit()
        return None
    if now - row.last_seen_at > cfg["AUTH_IDLE_TIMEOUT"]:
        _revoke(row, "idle", now)
        db.session.commit()
        return None
    if now - row.last_seen_at > cfg["AUTH_TOUCH_INTERVAL"]:
        # Touch at most once a minute, so that busy pages (answer saves) do not write on every request.
        row.last_seen_at = now
        db.session.commit()
    row.raw_token = token
    row.user.current_auth_session = row
    return row.user


def _revoke(row: AuthSession, reason: str, now: datetime) -> None:
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_reason = reason


def sign_out(user: User) -> None:
    if user.current_auth_session is not None:
        _revoke(user.current_auth_session, "signed_out", utcnow())
    audit.record("auth.sign_out", actor=user, target=user)
    db.session.commit()


def revoke_all_sessions(user: User, *, reason: str, actor: User | None = None) -> int:
    """Make every cookie of ``user`` useless; returns how many live sessions were ended.

    ``reason`` is a short code (``signed_out_everywhere``, ``account_disabled``...), kept on each session.
    """
    now = utcnow()
    live = [s for s in user.sessions if s.revoked_at is None]
    for row in live:
        _revoke(row, reason, now)
    audit.record("auth.sessions_revoked", actor=actor, target=user, reason=reason, count=len(live))
    db.session.commit()
    return len(live)


def create_user(
    *,
    username: str,
    full_name: str,
    role: Role | str,
    password: str,
    email: str | None = None,
    language: str = "en",
    actor: User | None = None,
) -> User:
    username = username.strip()
    if not username:
        raise AccountError("user name must not be empty")
    if find_user(username) is not None:
        raise AccountError(f"user name {username!r} is already taken")
    if language not in current_app.config["LANGUAGES"]:
        raise AccountError(
            f"language must be one of {sorted(current_app.config['LANGUAGES'])}, got {language!r}"
        )
    user = User(
        username=username,
        full_name=full_name.strip() or username,
        email=email or None,
        role=Role(role),
        language=language,
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", actor=actor, target=user, role=user.role.value)
    db.session.commit()
    return user


def update_user(
    user: User,
    *,
    actor: User,
    full_name: str,
    email: str | None,
    role: Role | str,
    language: str,
    active: bool,
) -> User:
    role = Role(role)
    if user.id == actor.id and (role is not user.role or not active):
        raise AccountError("you cannot change your own role or disable your own account")
    changes = {}
    for field, value in (
        ("full_name", full_name.strip()),
        ("email", email or None),
        ("role", role),
        ("language", language),
        ("active", active),
    ):
        old = getattr(user, field)
        if old != value:
            changes[field] = [str(old), str(value)]
            setattr(user, field, value)
    if changes:
        audit.record("user.updated", actor=actor, target=user, changes=changes)
    if ("active" in changes and not active) or "role" in changes:
        # A disabled account or a changed role must not keep sessions opened under the old state.
        revoke_all_sessions(user, reason="account_disabled" if not active else "role_changed", actor=actor)
    db.session.commit()
    return user


def set_password(user: User, password: str, *, actor: User | None) -> None:
    user.password_hash = hash_password(password)
    audit.record("user.password_set", actor=actor, target=user)
    revoke_all_sessions(user, reason="password_changed", actor=actor)


def set_language(user: User, language: str) -> None:
    if language not in current_app.config["LANGUAGES"]:
        raise AccountError(f"unknown language {language!r}")
    user.language = language
    db.session.commit()
