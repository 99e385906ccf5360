"""Blueprints: how many items of each content category a section needs, and from which difficulty range.

A :class:`Blueprint` states exact counts per category (legal domain or judicial competence). Its length is
the sum of the counts. A linear-on-the-fly form meets the counts exactly; an adaptive section uses them as
target proportions ``p_c = counts_c / length`` (and, unless its stopping rules say otherwise, its length as
the maximum length). An optional difficulty window keeps only operational items whose location (``b``, or the
mean threshold of a polytomous item; see :func:`~item_bank.assembly.pool.item_locations`) lies inside it.
``n_pretest`` unscored pretest items are seeded on top of the counted items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from item_bank.assembly.pool import AssemblyError, ItemPool

__all__ = ["Blueprint", "BlueprintError"]


class BlueprintError(AssemblyError):
    """A blueprint that is malformed or that the pool cannot fill; ``category`` names the culprit."""


@dataclass(frozen=True)
class Blueprint:
    """Content and difficulty specification of a section.

    Attributes
    ----------
    counts : mapping of str to int
        Number of operational items per content category, in blueprint order. Zero counts are allowed (a
        category that must not appear); empty counts mean "no content constraint" (adaptive sections only).
    difficulty : tuple of float (low, high), optional
        Inclusive window on the item location.
    n_pretest : int, default 0
        Unscored pretest items seeded into each form.

    Raises
    ------
    BlueprintError
        For a negative or non-integer count, a window with low > high or non-finite ends, or a negative
        ``n_pretest``.
    """

    counts: Mapping[str, int] = field(default_factory=dict)
    difficulty: tuple[float, float] | None = None
    n_pretest: int = 0

    def __post_init__(self) -> None:
        counts: dict[str, int] = {}
        for name, value in self.counts.items():
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise BlueprintError(
                    f"category {name!r}: count must be a whole number >= 0, got {value!r}", category=str(name)
                )
            counts[str(name)] = int(value)
        if self.difficulty is not None:
            lo, hi = (float(v) for v in self.difficulty)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise BlueprintError(
                    f"difficulty window must be two finite numbers low <= high, got {self.difficulty!r}"
                )
            object.__setattr__(self, "difficulty", (lo, hi))
        if isinstance(self.n_pretest, bool) or not isinstance(self.n_pretest, int) or self.n_pretest < 0:
            raise BlueprintError(f"n_pretest must be a whole number >= 0, got {self.n_pretest!r}")
        object.__setattr__(self, "counts", counts)

    @property
    def length(self) -> int:
        """Number of operational items: the sum of the counts."""
        return sum(self.counts.values())

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names in blueprint order."""
        return tuple(self.counts)

    @property
    def proportions(self) -> dict[str, float]:
        """Target share of each category, ``counts_c / length`` (empty when the length is 0)."""
        total = self.length
        return {c: n / total for c, n in self.counts.items()} if total else {}

    def eligible(self, pool: ItemPool) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Operational items inside the difficulty window (all items when there is none), shape (J,)."""
        if self.difficulty is None:
            return np.ones(pool.n_items, dtype=bool)
        lo, hi = self.difficulty
        loc = pool.location
        out: np.ndarray[Any, np.dtype[np.bool_]] = (loc >= lo) & (loc <= hi)
        return out

    def available(self, pool: ItemPool) -> dict[str, int]:
        """Number of eligible operational items per blueprint category."""
        codes = pool.category_codes(self.categories)
        ok = self.eligible(pool)
        found = np.bincount(codes[ok & (codes >= 0)], minlength=len(self.counts))
        return {c: int(found[i]) for i, c in enumerate(self.categories)}

    def validate(self, pool: ItemPool) -> Blueprint:
        """Return ``self`` if the pool has enough items for every count, else raise.

        Checks each category's count against its eligible items, and ``n_pretest`` against the pool's
        pretest items. Enemies can still make a blueprint that passes unfillable; assembly then raises a
        :class:`BlueprintError` naming the category it could not complete.

        Raises
        ------
        BlueprintError
            Naming the first category (in blueprint order) that cannot be filled, with needed and available
            counts and the difficulty window if there is one.
        """
        window = (
            ""
            if self.difficulty is None
            else f" with location in [{self.difficulty[0]}, {self.difficulty[1]}]"
        )
        for category, have in self.available(pool).items():
            need = self.counts[category]
            if have < need:
                raise BlueprintError(
                    f"category {category!r} needs {need} items but the pool has {have} operational items"
                    f"{window} in it",
                    category=category,
                )
        if self.n_pretest > len(pool.pretest_ids):
            raise BlueprintError(
                f"{self.n_pretest} pretest items are to be seeded but the pool has {len(pool.pretest_ids)}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, read back by :meth:`from_dict`."""
        out: dict[str, Any] = {"counts": dict(self.counts)}
        if self.difficulty is not None:
            out["difficulty"] = list(self.difficulty)
        if self.n_pretest:
            out["pretest"] = self.n_pretest
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Blueprint:
        """Read ``{"counts": {category: n}, "difficulty": [low, high], "pretest": n}`` (all keys optional).

        Raises
        ------
        BlueprintError
            For unknown keys or malformed values, naming them.
        """
        if not isinstance(data, Mapping):
            raise BlueprintError(f"a blueprint must be an object, got {data!r}")
        unknown = set(data) - {"counts", "difficulty", "pretest"}
        if unknown:
            raise BlueprintError(f"unknown blueprint keys {sorted(unknown)}; use counts, difficulty, pretest")
        counts = data.get("counts", {})
        if not isinstance(counts, Mapping):
            raise BlueprintError(f"counts must be an object {{category: count}}, got {counts!r}")
        window = data.get("difficulty")
        if window is not None:
            if not (isinstance(window, list | tuple) and len(window) == 2):
                raise BlueprintError(f"difficulty must be [low, high], got {window!r}")
            try:
                window = (float(window[0]), float(window[1]))
            except (TypeError, ValueError):
                raise BlueprintError(f"difficulty must be two numbers [low, high], got {window!r}") from None
        return cls(counts=dict(counts), difficulty=window, n_pretest=data.get("pretest", 0))
