"""Exams as delivered: definitions, sessions, registrations, attempts, timing and answers.

SQL is the source of truth (DESIGN.md §3): every acknowledged answer, every pause and extension is a row here
before the response says OK. Answers are an append-only event table plus one current answer per (attempt,
item) where the newest client sequence number wins. Deadlines are never stored: they are derived from the
section's start, its allowed seconds, extensions and pauses, so no single write can lose time.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from assessment.auth.models import User, utcnow
from assessment.extensions import db


def _enum(kind: type[enum.Enum], length: int = 20) -> Any:
    return db.Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class SelectionMode(enum.StrEnum):
    FIXED = "fixed"
    LOFT = "loft"  # linear on the fly, from a blueprint
    CAT = "cat"  # adaptive


class AttemptState(enum.StrEnum):
    SCHEDULED = "scheduled"
    ADMITTED = "admitted"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    SUBMITTED = "submitted"
    TERMINATED = "terminated"

    @property
    def finished(self) -> bool:
        return self in (AttemptState.SUBMITTED, AttemptState.TERMINATED)


class SectionState(enum.StrEnum):
    PENDING = "pending"
    OPEN = "open"
    SUBMITTED = "submitted"


exam_session_proctor = db.Table(
    "exam_session_proctor",
    db.Column("session_id", db.ForeignKey("exam_session.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
)


class ExamDefinition(db.Model):
    """A test: ordered sections (never a class named Test..., which pytest would collect)."""

    __tablename__ = "exam_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # per language
    scoring_method: Mapped[str] = mapped_column(String(10), default="eap")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    sections: Mapped[list[ExamSection]] = relationship(
        back_populates="definition", order_by="ExamSection.position", cascade="all, delete-orphan"
    )


class ExamSection(db.Model):
    __tablename__ = "exam_section"
    __table_args__ = (UniqueConstraint("definition_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("exam_definition.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[dict[str, str]] = mapped_column(JSON)  # per language
    family: Mapped[str] = mapped_column(String(20))  # knowledge | sjt
    time_limit_seconds: Mapped[int]
    mode: Mapped[SelectionMode] = mapped_column(_enum(SelectionMode))
    # fixed: {"items": [...]}; loft: {"blueprint": {...}}; cat: {"blueprint":..., "stop": {...}}; plus pretest
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shuffle_options: Mapped[bool] = mapped_column(default=False)
    allow_review: Mapped[bool] = mapped_column(default=True)  # flag and review screen (never in CAT)

    definition: Mapped[ExamDefinition] = relationship(back_populates="sections")


class ExamSession(db.Model):
    """A sitting window for a definition, with its proctors and registered candidates."""

    __tablename__ = "exam_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    definition_id: Mapped[int] = mapped_column(ForeignKey("exam_definition.id", ondelete="RESTRICT"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    definition: Mapped[ExamDefinition] = relationship()
    proctors: Mapped[list[User]] = relationship(secondary=exam_session_proctor)
    registrations: Mapped[list[Registration]] = relationship(
        back_populates="session", order_by="Registration.id"
    )


class Registration(db.Model):
    """A candidate registered for a session, with accommodations recorded once and applied everywhere."""

    __tablename__ = "registration"
    __table_args__ = (
        UniqueConstraint("session_id", "candidate_id"),
        CheckConstraint("extra_time_factor >= 1.0 AND extra_time_factor <= 3.0", name="extra_time_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    candidate_code: Mapped[str] = mapped_column(String(20), unique=True)  # coded id shown instead of a name
    language: Mapped[str] = mapped_column(String(5), default="ru")
    extra_time_factor: Mapped[float] = mapped_column(Float, default=1.0)
    large_text: Mapped[bool] = mapped_column(default=False)
    breaks_allowed: Mapped[bool] = mapped_column(default=False)
    accommodation_note: Mapped[str | None] = mapped_column(Text)

    session: Mapped[ExamSession] = relationship(back_populates="registrations")
    candidate: Mapped[User] = relationship()
    attempt: Mapped[Attempt | None] = relationship(back_populates="registration", uselist=False)


class Attempt(db.Model):
    """One candidate's sitting. Its state moves one way, by conditional updates only."""

    __tablename__ = "attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[AttemptState] = mapped_column(_enum(AttemptState), default=AttemptState.SCHEDULED)
    current_section: Mapped[int] = mapped_column(default=0)
    # the assembled form: per section the item codes, pretest codes and option permutations; pinned
    # parameter set ids per item (scoring uses exactly these)
    form: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pinned_parameters: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # the browser tab that owns the sitting; another one is refused until the proctor releases it
    client_token: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None]
    admitted_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    termination_reason: Mapped[str | None] = mapped_column(Text)

    registration: Mapped[Registration] = relationship(back_populates="attempt")
    sections: Mapped[list[AttemptSection]] = relationship(
        back_populates="attempt", order_by="AttemptSection.position", cascade="all, delete-orphan"
    )


class AttemptSection(db.Model):
    """Timing of one section of an attempt; the deadline is derived, never stored."""

    __tablename__ = "attempt_section"
    __table_args__ = (UniqueConstraint("attempt_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"))
    position: Mapped[int]
    state: Mapped[SectionState] = mapped_column(_enum(SectionState), default=SectionState.PENDING)
    allowed_seconds: Mapped[int]  # the section's limit times the candidate's extra-time factor
    extension_seconds: Mapped[int] = mapped_column(default=0)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    paused_since: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    submitted_by: Mapped[str | None] = mapped_column(String(20))  # candidate | server | proctor
    # adaptive sections: the CATSession state (items, responses, pending item, pretest plan) and a step
    # counter that every selection moves by a conditional update, so that two Next calls cannot both select
    adaptive_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    adaptive_step: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    attempt: Mapped[Attempt] = relationship(back_populates="sections")

    def deadline(self) -> datetime | None:
        """When time runs out: start + allowed + extensions + completed pauses (a running pause stops it)."""
        if self.started_at is None:
            return None
        return self.started_at + timedelta(
            seconds=self.allowed_seconds + self.extension_seconds + self.paused_seconds
        )

    def remaining_seconds(self, now: datetime) -> float:
        deadline = self.deadline()
        if deadline is None:
            return float(self.allowed_seconds + self.extension_seconds)
        reference = self.paused_since if self.paused_since is not None else now
        return max(0.0, (deadline - reference).total_seconds())


class AnswerEvent(db.Model):
    """Every answer save as received (append-only); the idempotency key makes retries harmless."""

    __tablename__ = "answer_event"
    __table_args__ = (UniqueConstraint("attempt_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"), index=True)
    item_code: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: the answer was cleared
    flagged: Mapped[bool | None]
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))  # applied | stale


class CurrentAnswer(db.Model):
    """The answer that counts for (attempt, item): the one with the highest client sequence number."""

    __tablename__ = "current_answer"

    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int]
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    flagged: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime]


class TimeAdjustment(db.Model):
    """Pauses, resumptions and extensions: who, why, when."""

    __tablename__ = "time_adjustment"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"), index=True)
    section_position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))  # pause | resume | extend
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class Irregularity(db.Model):
    """An incident logged by a proctor, or a browser signal (focus lost, paste...): signals, not verdicts."""

    __tablename__ = "irregularity"
    __table_args__ = (Index("ix_irregularity_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id", ondelete="CASCADE"))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))  # environment | candidate | technical | staff | other
    source: Mapped[str] = mapped_column(String(10))  # proctor | browser
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class ItemExposure(db.Model):
    """One administration of an item (append-only): a Start inserts these rows instead of updating the
    shared ``item.times_administered`` counters, which a room pressing Start together would queue on.

    The finaliser job (``flask delivery finalize``) moves them into the counters (delete-returning, so that
    each row is counted once even with two jobs running); exposure control (LOFT, CAT) adds the rows not yet
    moved. ``version_marked``: this administration was the version's first and was counted on the version
    at once, so that the bank freezes a version as soon as a candidate has seen it."""

    __tablename__ = "item_exposure"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("item_version.id", ondelete="CASCADE"))
    version_marked: Mapped[bool] = mapped_column(default=False)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id", ondelete="SET NULL"))
    at: Mapped[datetime]
