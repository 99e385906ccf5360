"""The access code of one registration; only its SHA-256 is stored, and issuing a new one replaces it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from assessment.auth.models import utcnow
from assessment.delivery.models import Registration
from assessment.extensions import db


class AccessCode(db.Model):
    """The live access code of a registration (one row per registration; re-issuing overwrites the hash)."""

    __tablename__ = "access_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), unique=True
    )
    # SHA-256 of the normalised code: the code is 60 random bits, so a fast hash that can be looked up is
    # enough (argon2 protects low-entropy secrets people choose; nobody chooses these).
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    uses: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None]

    registration: Mapped[Registration] = relationship()
