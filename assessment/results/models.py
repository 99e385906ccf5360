"""Scores of closed sections: theta and SE on the bank scale, number-correct, and sub-scores.

A result is never changed: rescoring (a corrected key, a new parameter set) adds a new row and marks the old
one as no longer current, so every reported number can be traced to the parameters and rule that made it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

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
