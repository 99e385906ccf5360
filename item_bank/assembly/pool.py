"""The item pool a section draws from: operational items with parameters, content categories, enemies,
Sympson-Hetter exposure parameters and unscored pretest items.

Items are addressed by id everywhere in the public API. Internally every item has a *unified index*:
operational items take ``0..J-1`` in the order of :attr:`ItemPool.params`, pretest items ``J..J+P-1`` in the
order of :attr:`ItemPool.pretest_ids`. Numerical arrays (information, location, ``exposure_k``) cover the J
operational items only: pretest items have no approved parameters yet.

Enemies are symmetric ("i1 is an enemy of i2" makes i2 an enemy of i1): two enemies never appear in one
candidate's section. Enemy ids that are not in the pool (a retired item, another family) are ignored, since
they cannot be administered from this pool anyway; :mod:`item_bank.assembly.design` is stricter and rejects
unknown ids in a design file, where they are typos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from item_bank.irt.models import DICHOTOMOUS, ItemParameters, item_information
from item_bank.items import ItemSpec

__all__ = ["INFO_GRID", "AssemblyError", "ItemPool", "enemy_map", "item_locations", "neighbours"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
T = TypeVar("T")

INFO_GRID: FloatArray = np.linspace(-5.0, 5.0, 201)
"""Theta grid (step 0.05) on which item information is tabulated for adaptive selection; linear
interpolation between its points errs by less than 0.2 % of an item's peak information for slopes up to 3
(measured for 2pl and 3pl items)."""


class AssemblyError(ValueError):
    """A form cannot be built as asked: unknown items, enemies together, an unfillable blueprint.

    Attributes
    ----------
    category : str or None
        The blueprint category that could not be filled, when that is the problem.
    """

    def __init__(self, message: str, *, category: str | None = None) -> None:
        super().__init__(message)
        self.category = category


def item_locations(params: ItemParameters) -> FloatArray:
    """Location of each item on the theta scale, used by difficulty windows.

    ``b`` for dichotomous items, the mean of the thresholds (grm) or step difficulties (gpcm, pcm) for
    polytomous items.

    Returns
    -------
    ndarray of float64, shape (J,)
    """
    b = params.b
    out = np.empty(params.n_items)
    for j, model in enumerate(params.model):
        row = b[j][np.isfinite(b[j])]
        out[j] = row[0] if model in DICHOTOMOUS else float(row.mean())
    return out


def enemy_map(groups: Iterable[Iterable[str]]) -> dict[str, frozenset[str]]:
    """Symmetric enemy mapping from enemy sets: every two items of a set are enemies.

    ``enemy_map([["i1", "i2", "i3"]])`` gives
    ``{"i1": {"i2", "i3"}, "i2": {"i1", "i3"}, "i3": {"i1", "i2"}}``. A pair is a set of two.
    """
    out: dict[str, set[str]] = {}
    for group in groups:
        members = [str(g) for g in group]
        for item in members:
            out.setdefault(item, set()).update(m for m in members if m != item)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(frozen=True, eq=False)
class ItemPool:
    """Items available to a section; immutable and validated on construction.

    Attributes
    ----------
    params : ItemParameters
        The J operational items with their approved parameters.
    categories : mapping of str to str
        Content category (legal domain for knowledge items, competence for SJT items) of each item id,
        operational or pretest. Items without an entry have no category: a blueprint never counts them.
    enemies : mapping of str to frozenset of str
        Enemy ids of each item (made symmetric; ids outside the pool dropped).
    exposure_k : array_like of shape (J,), or mapping of item id to K, optional
        Sympson-Hetter exposure-control parameters ``K_j`` in [0, 1]: the probability that operational item
        j is administered once selected; items missing from a mapping get 1. Stored as given; read the
        validated array from :attr:`k`.
    pretest_ids : tuple of str, length P
        Unscored pretest items (no parameters needed), seeded into sections for later calibration.

    Raises
    ------
    AssemblyError
        For a pretest id that is also operational or repeated, a category given for an unknown item, or a
        ``K_j`` outside [0, 1] (each naming the item).
    """

    params: ItemParameters
    categories: Mapping[str, str] = field(default_factory=dict)
    enemies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    exposure_k: ArrayLike | Mapping[str, float] | None = None
    pretest_ids: tuple[str, ...] = ()
    _cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = self.params.item_ids
        pretest = tuple(str(p) for p in self.pretest_ids)
        index: dict[str, int] = {item: j for j, item in enumerate(ids)}
        for p in pretest:
            if p in index:
                kind = "operational" if index[p] < len(ids) else "pretest"
                raise AssemblyError(f"pretest item {p!r} is listed twice (already {kind})")
            index[p] = len(index)
        categories = {str(k): str(v) for k, v in self.categories.items()}
        for item in categories:
            if item not in index:
                raise AssemblyError(f"category given for item {item!r}, which is not in the pool")
        enemies: dict[str, set[str]] = {}
        for item, others in self.enemies.items():
            if str(item) not in index:
                continue
            for other in others:
                if str(other) in index and str(other) != str(item):
                    enemies.setdefault(str(item), set()).add(str(other))
                    enemies.setdefault(str(other), set()).add(str(item))
        if self.exposure_k is None:
            k = np.ones(len(ids))
        elif isinstance(self.exposure_k, Mapping):
            k = np.ones(len(ids))
            for item, value in self.exposure_k.items():
                if item not in index or index[item] >= len(ids):
                    raise AssemblyError(f"exposure parameter given for {item!r}, not an operational item")
                k[index[item]] = float(value)
        else:
            k = np.array(self.exposure_k, dtype=np.float64).reshape(-1)
            if k.shape[0] != len(ids):
                raise AssemblyError(f"exposure_k has {k.shape[0]} entries for {len(ids)} operational items")
        bad = ~((k >= 0.0) & (k <= 1.0))
        if bad.any():
            j = int(np.argmax(bad))
            raise AssemblyError(f"item {ids[j]!r}: Sympson-Hetter K must lie in [0, 1], got {float(k[j])!r}")
        k.setflags(write=False)
        object.__setattr__(self, "pretest_ids", pretest)
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "enemies", {item: frozenset(v) for item, v in enemies.items()})
        self._cache["index"] = index
        self._cache["k"] = k

    @property
    def k(self) -> FloatArray:
        """Sympson-Hetter ``K_j`` of the operational items, shape (J,) (ones when none were given)."""
        out: FloatArray = self._cache["k"]
        return out

    # ---------------------------------------------------------------------------------------------------
    # Construction helpers
    # ---------------------------------------------------------------------------------------------------

    @classmethod
    def from_specs(
        cls,
        specs: Iterable[ItemSpec],
        params: ItemParameters,
        *,
        family: str | None = None,
        exposure_k: Mapping[str, float] | ArrayLike | None = None,
    ) -> ItemPool:
        """A pool from bank items and their approved parameters.

        Operational items are the specs with status ``"operational"`` that have parameters in ``params``;
        pretest items are the specs with status ``"pretest"``. The category is the item's domain (knowledge)
        or competence (SJT); enemies come from ``ItemSpec.enemies``. Other statuses are left out.

        Parameters
        ----------
        specs : iterable of ItemSpec
        params : ItemParameters
            Approved parameters; items without a spec, or whose spec is not operational, are left out.
        family : {"knowledge", "sjt"}, optional
            Keep only items of this family.
        exposure_k : mapping of item id to K, or array of shape (J_operational,), optional

        Returns
        -------
        ItemPool
        """
        chosen = [s for s in specs if family is None or s.family == family]
        with_params = set(params.item_ids)
        operational = [s.code for s in chosen if s.status == "operational" and s.code in with_params]
        pretest = tuple(s.code for s in chosen if s.status == "pretest")
        keep = set(operational) | set(pretest)
        categories = {
            s.code: category
            for s in chosen
            if s.code in keep and (category := s.domain if s.family == "knowledge" else s.competence)
        }
        enemies = {s.code: frozenset(s.enemies) for s in chosen if s.enemies}
        return cls(
            params=params.subset(operational),
            categories=categories,
            enemies=enemies,
            exposure_k=exposure_k,
            pretest_ids=pretest,
        )

    def with_exposure(self, exposure_k: ArrayLike | Mapping[str, float] | None) -> ItemPool:
        """The same pool with other Sympson-Hetter parameters (e.g. from ``calibrate_sympson_hetter``)."""
        return replace(self, exposure_k=exposure_k)

    # ---------------------------------------------------------------------------------------------------
    # Look-ups
    # ---------------------------------------------------------------------------------------------------

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Operational item ids, length J."""
        return self.params.item_ids

    @property
    def n_items(self) -> int:
        """Number of operational items J."""
        return self.params.n_items

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def is_pretest(self, item_id: str) -> bool:
        """True for a pretest item; raises AssemblyError for an id not in the pool."""
        return self.unified_index(item_id) >= self.n_items

    def unified_index(self, item_id: str) -> int:
        """Unified index of ``item_id`` (see the module docstring)."""
        try:
            return int(self._index[item_id])
        except KeyError:
            raise AssemblyError(
                f"item {item_id!r} is not in the pool ({self.n_items} operational, "
                f"{len(self.pretest_ids)} pretest items)"
            ) from None

    def item_id(self, unified: int) -> str:
        """Item id at a unified index."""
        j = int(unified)
        return self.item_ids[j] if j < self.n_items else self.pretest_ids[j - self.n_items]

    def cached(self, key: Any, build: Callable[[], T]) -> T:
        """A table derived from the pool, built on first use and kept with the pool (which is immutable).

        Used for the information grid, EAP tables and category indicators, so that a pool built once per
        parameter set serves every request without recomputing them.
        """
        if key not in self._cache:
            self._cache[key] = build()
        out: T = self._cache[key]
        return out

    @property
    def _index(self) -> dict[str, int]:
        index: dict[str, int] = self._cache["index"]
        return index

    def category(self, item_id: str) -> str | None:
        """Content category of an item, None when it has none."""
        return self.categories.get(item_id)

    def enemies_of(self, item_id: str) -> frozenset[str]:
        """Enemy ids of an item (empty when it has none)."""
        return self.enemies.get(item_id, frozenset())

    # ---------------------------------------------------------------------------------------------------
    # Cached numerical tables (computed once per pool)
    # ---------------------------------------------------------------------------------------------------

    @property
    def location(self) -> FloatArray:
        """Item locations (see :func:`item_locations`), shape (J,)."""
        if "location" not in self._cache:
            loc = item_locations(self.params)
            loc.setflags(write=False)
            self._cache["location"] = loc
        out: FloatArray = self._cache["location"]
        return out

    def category_codes(self, names: Sequence[str]) -> IntArray:
        """Position of each operational item's category in ``names``, -1 if absent, shape (J,)."""
        key = ("category_codes", tuple(names))
        if key not in self._cache:
            where = {name: i for i, name in enumerate(names)}
            codes = np.array(
                [where.get(self.categories.get(item, ""), -1) for item in self.item_ids], dtype=np.int64
            )
            codes.setflags(write=False)
            self._cache[key] = codes
        out: IntArray = self._cache[key]
        return out

    @property
    def enemy_graph(self) -> tuple[IntArray, IntArray]:
        """Enemies in compressed sparse row form over unified indices.

        Returns
        -------
        indptr : ndarray of int64, shape (J + P + 1,)
        indices : ndarray of int64
            The enemies of unified item u are ``indices[indptr[u]:indptr[u + 1]]``.
        """
        if "enemy_graph" not in self._cache:
            n = len(self._index)
            rows: list[list[int]] = [[] for _ in range(n)]
            for item, others in self.enemies.items():
                rows[self._index[item]] = sorted(self._index[o] for o in others)
            indptr = np.zeros(n + 1, dtype=np.int64)
            indptr[1:] = np.cumsum([len(r) for r in rows])
            indices = np.array([u for r in rows for u in r], dtype=np.int64)
            indptr.setflags(write=False)
            indices.setflags(write=False)
            self._cache["enemy_graph"] = (indptr, indices)
        graph: tuple[IntArray, IntArray] = self._cache["enemy_graph"]
        return graph

    def information_grid(self) -> tuple[FloatArray, FloatArray]:
        """Item information tabulated on :data:`INFO_GRID`.

        Returns
        -------
        grid : ndarray, shape (G,)
        info : ndarray, shape (G, J)
        """
        if "info" not in self._cache:
            info = item_information(self.params, INFO_GRID)
            info.setflags(write=False)
            self._cache["info"] = info
        out: FloatArray = self._cache["info"]
        return INFO_GRID, out

    def information_at(self, theta: ArrayLike) -> FloatArray:
        """Item information at each theta by linear interpolation on :data:`INFO_GRID`.

        Thetas outside the grid are clamped to its ends.

        Parameters
        ----------
        theta : array_like, shape (N,)

        Returns
        -------
        ndarray of float64, shape (N, J)
        """
        grid, info = self.information_grid()
        th = np.clip(np.asarray(theta, dtype=np.float64).reshape(-1), grid[0], grid[-1])
        step = grid[1] - grid[0]
        pos = (th - grid[0]) / step
        lo = np.minimum(pos.astype(np.int64), grid.shape[0] - 2)
        w = (pos - lo)[:, None]
        out: FloatArray = info[lo] * (1.0 - w) + info[lo + 1] * w
        return out

    def __repr__(self) -> str:
        cats = sorted(set(self.categories.values()))
        return (
            f"ItemPool(n_items={self.n_items}, n_pretest={len(self.pretest_ids)}, categories={cats}, "
            f"enemy_items={len(self.enemies)})"
        )


def neighbours(indptr: IntArray, indices: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """All (k, enemy) pairs for a vector of unified items ``rows`` (k = position in ``rows``), vectorised.

    Returns
    -------
    owner : ndarray of int64
        Position in ``rows`` of each pair.
    enemy : ndarray of int64
        Unified index of the enemy.
    """
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(rows.shape[0], dtype=np.int64), lengths)
    if total == 0:
        return owner, np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return owner, indices[offsets + np.arange(total, dtype=np.int64)]
