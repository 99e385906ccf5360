"""The item bank's tables: items, their immutable versions, stimuli, enemies and parameter sets."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
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


class ParameterStatus(enum.StrEnum):
    PROPOSED = "proposed"  # from a calibration, awaiting a second psychometrician
    APPROVED = "approved"  # the operational set of its item (at most one per item)
    SUPERSEDED = "superseded"  # was approved, replaced by a newer approval
    REJECTED = "rejected"


def _enum(kind: type[enum.Enum], length: int = 20) -> Any:
    return db.Enum(kind, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class Stimulus(db.Model):
    """One version of a shared case text that several items (a testlet) refer to.

    ``code`` names the case across its versions; ``number`` counts them. Item versions point at the exact
    version they were written with, so a text candidates have read is never changed: once a version is in use
    (an item on it administered, or in pretest or operational use) an edit writes version ``number + 1`` and
    moves the items to it, each by the item versioning rule.
    """

    __tablename__ = "stimulus"
    __table_args__ = (UniqueConstraint("code", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    number: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # per language
    texts: Mapped[dict[str, str]] = mapped_column(JSON)  # per language
    change_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class ItemEnemy(db.Model):
    """Two items that must not appear on one form; stored once per direction."""

    __tablename__ = "item_enemy"

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)
    enemy_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), primary_key=True)


class Item(db.Model):
    """One item across languages and versions; ``code`` is its stable public identifier."""

    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    family: Mapped[ItemFamily] = mapped_column(_enum(ItemFamily))
    format: Mapped[ItemFormat] = mapped_column(_enum(ItemFormat))
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus), default=ItemStatus.DRAFT)
    domain: Mapped[str | None] = mapped_column(String(60), index=True)  # legal domain (knowledge)
    topic: Mapped[str | None] = mapped_column(String(120))
    competence: Mapped[str | None] = mapped_column(String(60), index=True)  # judicial competence (SJT)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_demo: Mapped[bool] = mapped_column(default=False)
    # Exposure: times any version was administered (kept by delivery, shown and filtered in the bank).
    times_administered: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    versions: Mapped[list[ItemVersion]] = relationship(
        back_populates="item", order_by="ItemVersion.number", cascade="all, delete-orphan"
    )
    enemies: Mapped[list[Item]] = relationship(
        secondary="item_enemy",
        primaryjoin="Item.id == ItemEnemy.item_id",
        secondaryjoin="Item.id == ItemEnemy.enemy_id",
        order_by="Item.code",
    )
    parameter_sets: Mapped[list[ParameterSet]] = relationship(
        back_populates="item", order_by="ParameterSet.id", cascade="all, delete-orphan"
    )

    @property
    def current(self) -> ItemVersion:
        return self.versions[-1]

    @property
    def approved_parameters(self) -> ParameterSet | None:
        return next((p for p in self.parameter_sets if p.status is ParameterStatus.APPROVED), None)


class ItemVersion(db.Model):
    """Content and key of an item at one version; frozen once the version has been administered."""

    __tablename__ = "item_version"
    __table_args__ = (UniqueConstraint("item_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    number: Mapped[int]
    # {"en": {"stem": ..., "options": [...], "state": "reviewed"}, "ru": {...}}: one per language version
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # single_best: {"correct": 2}; SJT: expert ratings / most-least / rank, per item_bank.items
    key: Mapped[dict[str, Any]] = mapped_column(JSON)
    scoring: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stimulus_id: Mapped[int | None] = mapped_column(ForeignKey("stimulus.id", ondelete="RESTRICT"))
    times_administered: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    change_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    item: Mapped[Item] = relationship(back_populates="versions")
    stimulus: Mapped[Stimulus | None] = relationship()


class ParameterSet(db.Model):
    """IRT parameters of one item from one calibration: immutable numbers with their provenance.

    At most one set per item is approved (operational) at a time, enforced by a partial unique index; the
    approver must differ from the psychometrician who proposed it (four eyes).
    """

    __tablename__ = "parameter_set"
    __table_args__ = (
        Index(
            "uq_parameter_set_one_approved_per_item",
            "item_id",
            unique=True,
            sqlite_where=text("status = 'approved'"),
            postgresql_where=text("status = 'approved'"),
        ),
        CheckConstraint("approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name="four_eyes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    item_version_id: Mapped[int | None] = mapped_column(ForeignKey("item_version.id", ondelete="SET NULL"))
    model: Mapped[str] = mapped_column(String(10))  # rasch, 1pl, 2pl, 3pl, grm, gpcm, pcm
    a: Mapped[float]
    b: Mapped[list[float]] = mapped_column(JSON)  # difficulty, or thresholds b1..bK
    c: Mapped[float] = mapped_column(default=0.0)
    se: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"a": .., "b": [..], "c": ..}
    # where the numbers come from: calibration run, model, data, sample size, linking method and constants
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ParameterStatus] = mapped_column(_enum(ParameterStatus), default=ParameterStatus.PROPOSED)
    is_demo: Mapped[bool] = mapped_column(default=False)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)

    item: Mapped[Item] = relationship(back_populates="parameter_sets")
