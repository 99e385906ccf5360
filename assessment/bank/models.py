"""Items and their immutable versions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from assessment.auth.models import utcnow
from assessment.extensions import db


class ItemFamily(enum.StrEnum):
    KNOWLEDGE = "knowledge"
    SJT = "sjt"


class ItemFormat(enum.StrEnum):
    SINGLE_BEST = "single_best"  # knowledge: one keyed option
    SJT_RATE = "sjt_rate"  # rate the effectiveness of each option (1-4)
    SJT_MOST_LEAST = "sjt_most_least"  # pick the most and the least effective
    SJT_RANK = "sjt_rank"  # rank the options


class ItemStatus(enum.StrEnum):
    DRAFT = "draft"
    REVIEW = "review"
    PRETEST = "pretest"
    OPERATIONAL = "operational"
    RETIRED = "retired"


def _enum(kind: type[enum.Enum], length: int = 20) -> Any:
    return db.Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class Item(db.Model):
    """One item across languages and versions; ``code`` is its stable public identifier."""

    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    family: Mapped[ItemFamily] = mapped_column(_enum(ItemFamily))
    format: Mapped[ItemFormat] = mapped_column(_enum(ItemFormat))
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus), default=ItemStatus.DRAFT)
    domain: Mapped[str | None] = mapped_column(String(60), index=True)  # legal domain (knowledge)
    competence: Mapped[str | None] = mapped_column(String(60), index=True)  # judicial competence (SJT)
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ItemVersion]] = relationship(
        back_populates="item", order_by="ItemVersion.number", cascade="all, delete-orphan"
    )

    @property
    def current(self) -> ItemVersion | None:
        return self.versions[-1] if self.versions else None


class ItemVersion(db.Model):
    """Content and key of an item at one version; never edited once written."""

    __tablename__ = "item_version"
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    number: Mapped[int]
    # {"en": {"stem": ..., "options": [...]}, "ru": {...}}: one entry per language version
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # knowledge: {"correct": 2}; SJT: expert ratings / most-least / rank, per the format
    key: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    item: Mapped[Item] = relationship(back_populates="versions")
