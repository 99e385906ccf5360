"""User accounts and their server-side sign-in sessions."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from assessment.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    PSYCHOMETRICIAN = "psychometrician"
    PROCTOR = "proctor"
    CANDIDATE = "candidate"
    COMMISSION = "commission"

    @property
    def is_staff(self) -> bool:
        return self is not Role.CANDIDATE


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(
        db.Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    language: Mapped[str] = mapped_column(String(5), default="en")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    sessions: Mapped[list[AuthSession]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Set by the user loader / sign-in: the server-side session this request is authenticated by.
    current_auth_session = None  # type: AuthSession | None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        # Flask-Login keeps this in the cookie: an opaque token of a revocable session, not the user id,
        # so that revoking the session makes every copy of the cookie useless.
        if self.current_auth_session is None or self.current_auth_session.raw_token is None:
            raise RuntimeError("user has no authenticated session")
        return self.current_auth_session.raw_token

    # Flask-Login's UserMixin compares users by get_id(), which is a session token here: compare rows instead.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, User) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("User", self.id))

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


class AuthSession(db.Model):
    """A sign-in on one browser. Only the SHA-256 of its token is stored."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship(back_populates="sessions")

    raw_token = None  # str | None: only known in the request that created or presented it
