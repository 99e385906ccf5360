"""Scores of closed sections: theta and SE on the bank scale, number-correct, and sub-scores.

A result is never changed: rescoring (a corrected key, a new parameter set) adds a new row and marks the old
one as no longer current, so every reported number can be traced to the parameters and rule that made it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from assessment.auth.models import User, utcnow
from assessment.delivery.models import ExamDefinition
from assessment.extensions import db


class SectionResult(db.Model):
    __tablename__ = "section_result"
    __table_args__ = (
        Index(
            "uq_section_result_current",
            "attempt_id",
            "position",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    is_current: Mapped[bool] = mapped_column(default=True)
    method: Mapped[str] = mapped_column(String(10))  # eap | map | ml | wle
    theta: Mapped[float | None]
    se: Mapped[float | None]
    number_correct: Mapped[float]  # sum of category scores of the scored items
    max_score: Mapped[float]
    n_scored: Mapped[int]
    n_answered: Mapped[int]
    # per domain (knowledge) or competence (SJT): {"civil": {"theta":..,"se":..,"n":..,"too_few":..}}
    subscores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # item -> parameter set id used, and item -> category score given (the evidence behind the numbers)
    parameter_sets: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    item_scores: Mapped[dict[str, int | None]] = mapped_column(JSON, default=dict)
    unscored_reason: Mapped[str | None] = mapped_column(Text)
    scored_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)  # why a rescore was made
    scored_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


# --------------------------------------------------------------------------------------------------------
# Selection campaigns: ordered stages with published weights, combined before anyone is ranked or cut
# --------------------------------------------------------------------------------------------------------


class StageKind(enum.StrEnum):
    TEST = "test"  # a section of an exam definition, scored on the bank scale (theta, SE)
    RATED = "rated"  # rated by members per criterion: the competency interview, a written case analysis


campaign_member = Table(
    "campaign_member",
    db.metadata,
    Column("campaign_id", ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
)


class Campaign(db.Model):
    """A selection round (e.g. "judge candidates, spring round"): every candidate takes every stage."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    level: Mapped[float] = mapped_column(Float, default=0.95)  # confidence level of the bands
    places: Mapped[int | None]  # places to fill; the cut analysis is made at the last place
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    stages: Mapped[list[CampaignStage]] = relationship(
        back_populates="campaign", order_by="CampaignStage.position", cascade="all, delete-orphan"
    )
    candidates: Mapped[list[CampaignCandidate]] = relationship(
        back_populates="campaign", order_by="CampaignCandidate.code", cascade="all, delete-orphan"
    )
    members: Mapped[list[User]] = relationship(secondary=campaign_member)


class CampaignStage(db.Model):
    __table_args__ = (
        UniqueConstraint("campaign_id", "position"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("rating_max > rating_min", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[StageKind] = mapped_column(
        db.Enum(StageKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e])
    )
    weight: Mapped[float] = mapped_column(Float)  # published, relative; normalised to sum 1
    # test stages: which section of which test
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("exam_definition.id", ondelete="RESTRICT"))
    section_position: Mapped[int | None]
    # rated stages: criteria (judicial competences) and the rating scale
    criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    rating_min: Mapped[int] = mapped_column(default=1)
    rating_max: Mapped[int] = mapped_column(default=5)
    # the reported scale: intercept + slope * score, rounded to `report_decimals`
    report_intercept: Mapped[float] = mapped_column(Float, default=0.0)
    report_slope: Mapped[float] = mapped_column(Float, default=1.0)
    report_decimals: Mapped[int] = mapped_column(default=2)
    # an optional minimum on the stage's own scale: off (None) by default; setting it needs a reason
    minimum: Mapped[float | None] = mapped_column(Float)
    minimum_reason: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(back_populates="stages")
    definition: Mapped[ExamDefinition | None] = relationship()


class CampaignCandidate(db.Model):
    """A candidate of a campaign under a coded identifier (names are shown only to administrators)."""

    __table_args__ = (UniqueConstraint("campaign_id", "user_id"), UniqueConstraint("campaign_id", "code"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="candidates")
    user: Mapped[User] = relationship()


class StageRating(db.Model):
    """One member's rating of one candidate on one criterion of a rated stage (changes are audited)."""

    __table_args__ = (UniqueConstraint("stage_id", "candidate_id", "member_id", "criterion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("campaign_stage.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("campaign_candidate.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(String(40))
    rating: Mapped[float] = mapped_column(Float)
    rated_at: Mapped[datetime]


class ResultRelease(db.Model):
    """Results released to candidates: a frozen copy of what each candidate is shown."""

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    released_at: Mapped[datetime]
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
    # candidate code -> the candidate's report (stages with bands; nothing about other candidates)
    reports: Mapped[dict[str, Any]] = mapped_column(JSON)
