"""Response datasets and calibration runs, kept with their inputs and settings so a run can be reproduced."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from assessment.auth.models import User, utcnow
from assessment.extensions import db


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class ResponseDataset(db.Model):
    """A response matrix (persons x items, -1 = not presented), stored compressed and never changed."""

    __tablename__ = "response_dataset"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))  # "upload: pilot.csv", "sessions: 3, 4"
    item_codes: Mapped[list[str]] = mapped_column(JSON)
    n_persons: Mapped[int]
    group_label: Mapped[str | None] = mapped_column(String(40))  # what the optional group column means
    sha256: Mapped[str] = mapped_column(String(64))
    # numpy .npz: responses (int8), person_ids (str), groups (str, optional)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    created_by: Mapped[User | None] = relationship()


class CalibrationRun(db.Model):
    __tablename__ = "calibration_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("response_dataset.id", ondelete="RESTRICT"))
    status: Mapped[RunStatus] = mapped_column(
        db.Enum(RunStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=RunStatus.QUEUED,
    )
    # models per family, linking method, quadrature and convergence settings, the item codes included
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    result: Mapped[dict[str, Any] | None] = deferred(mapped_column(JSON))
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    dataset: Mapped[ResponseDataset] = relationship()
    created_by: Mapped[User | None] = relationship()
