"""How often each item has been administered, for exposure control (LOFT and CAT).

A Start records administrations as append-only ``item_exposure`` rows (no shared row to queue on); the
finaliser job moves them into ``item.times_administered`` (``services.aggregate_exposure``). What selection
reads is the counter plus the rows not yet moved, so exposure control is exact, not one period behind.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func

from assessment.bank.models import Item
from assessment.delivery.models import ItemExposure
from assessment.extensions import db


def pending_exposure(item_ids: Sequence[int]) -> dict[int, int]:
    """Administrations not yet moved into the counters, per item (exposure control adds them)."""
    if not item_ids:
        return {}
    return dict(
        db.session.execute(
            db.select(ItemExposure.item_id, func.count())
            .where(ItemExposure.item_id.in_(list(item_ids)))
            .group_by(ItemExposure.item_id)
        ).all()
    )


def exposure_of(items: Sequence[Item]) -> dict[str, int]:
    """Each item's administrations so far: its counter plus the rows the finaliser has not moved yet."""
    pending = pending_exposure([i.id for i in items])
    return {i.code: i.times_administered + pending.get(i.id, 0) for i in items}
