"""Linear forms: fixed forms, linear-on-the-fly tests (LOFT) from a blueprint, pretest seeding and option
shuffling.

A :class:`Form` is one candidate's section: the item ids in delivery order, which of them are unscored pretest
items, and (when options are shuffled) one permutation per item. A permutation ``perm`` maps the *displayed*
position to the *original* option index: the candidate sees ``options[perm[0]], options[perm[1]], ...``.
Responses arrive in displayed positions and are turned back into original indices by
:func:`unshuffle_response` before they are scored against the key (which is in original order).

LOFT (:func:`assemble_loft`) draws, category by category (the category with the least spare items first),
one item at a time at random with probability proportional to

    w_j = K_j / (1 + e_j)

where ``K_j`` is the item's Sympson-Hetter parameter (1 without exposure control) and ``e_j`` its exposure so
far (e.g. the number of earlier candidates who saw it); after each draw the item's enemies are blocked. If the
enemies of earlier draws leave a category short, the whole form is drawn again (up to ``max_tries`` times)
before a :class:`~item_bank.assembly.blueprint.BlueprintError` names the category. Everything random comes
from the ``rng`` argument, so a form is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from item_bank.assembly.blueprint import Blueprint, BlueprintError
from item_bank.assembly.pool import AssemblyError, ItemPool

__all__ = [
    "ORDERS",
    "Form",
    "assemble_fixed",
    "assemble_loft",
    "choose_pretest",
    "displayed_options",
    "exposure_weights",
    "seed_pretest",
    "shuffle_form",
    "shuffle_options",
    "shuffle_response",
    "unshuffle_response",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

ORDERS: tuple[str, ...] = ("random", "blueprint")
"""Delivery orders of a LOFT form: shuffled, or grouped by category in blueprint order."""


@dataclass(frozen=True)
class Form:
    """One candidate's linear section.

    Attributes
    ----------
    item_ids : tuple of str
        Every item in delivery order, pretest items included.
    pretest : tuple of str
        The unscored items, in delivery order (a subset of ``item_ids``).
    permutations : mapping of str to tuple of int
        Per shuffled item, displayed position -> original option index. Items without an entry keep their
        original order.
    """

    item_ids: tuple[str, ...]
    pretest: tuple[str, ...] = ()
    permutations: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def scored_ids(self) -> tuple[str, ...]:
        """The operational (scored) items in delivery order."""
        unscored = set(self.pretest)
        return tuple(i for i in self.item_ids if i not in unscored)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"items": [...], "pretest": [...], "permutations": {item: [...]}}``."""
        return {
            "items": list(self.item_ids),
            "pretest": list(self.pretest),
            "permutations": {k: list(v) for k, v in self.permutations.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Form:
        """Inverse of :meth:`to_dict` (``permutations`` optional)."""
        return cls(
            item_ids=tuple(data["items"]),
            pretest=tuple(data.get("pretest", ())),
            permutations={k: tuple(int(i) for i in v) for k, v in data.get("permutations", {}).items()},
        )


# ---------------------------------------------------------------------------------------------------------
# Option shuffling
# ---------------------------------------------------------------------------------------------------------


def shuffle_options(n_options: int, rng: np.random.Generator) -> tuple[int, ...]:
    """A uniformly random permutation of ``n_options`` options: displayed position -> original index."""
    if n_options < 1:
        raise ValueError(f"n_options must be at least 1, got {n_options!r}")
    return tuple(int(i) for i in rng.permutation(n_options))


def shuffle_form(form: Form, n_options: Mapping[str, int], rng: np.random.Generator) -> Form:
    """``form`` with a fresh permutation for every item listed in ``n_options`` (drawn in delivery order).

    Items missing from ``n_options`` are not shuffled (e.g. an item whose last option is "none of the
    above").
    """
    perms = {item: shuffle_options(int(n_options[item]), rng) for item in form.item_ids if item in n_options}
    return replace(form, permutations=perms)


def _check_permutation(permutation: Sequence[int]) -> list[int]:
    perm = [int(p) for p in permutation]
    if sorted(perm) != list(range(len(perm))):
        raise ValueError(f"not a permutation of 0..{len(perm) - 1}: {list(permutation)!r}")
    return perm


def _index(value: Any, n: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < n:
        raise ValueError(f"response field {name!r} must be an option position 0..{n - 1}, got {value!r}")
    return int(value)


def _per_option(values: Any, n: int, name: str) -> list[Any]:
    if not isinstance(values, list | tuple) or len(values) != n:
        raise ValueError(f"response field {name!r} must list one value per option ({n}), got {values!r}")
    return list(values)


def unshuffle_response(response: Mapping[str, Any], permutation: Sequence[int]) -> dict[str, Any]:
    """Turn a response given on shuffled options back into original option indices.

    Handles every response shape of :mod:`item_bank.items`: ``{"choice": d}`` -> ``{"choice": perm[d]}``;
    ``{"most": d1, "least": d2}`` likewise; ``{"ratings": [...]}`` and ``{"rank": [...]}`` (one value per
    displayed option) are reordered so that entry ``perm[d]`` gets the value given at displayed position d.
    Other keys are copied unchanged.

    Parameters
    ----------
    response : mapping
        As submitted, in displayed positions.
    permutation : sequence of int, length n
        Displayed position -> original index (:attr:`Form.permutations`).

    Returns
    -------
    dict
        The response in original option indices.

    Raises
    ------
    ValueError
        For a permutation that is not one, or a position or list length that does not fit it.
    """
    perm = _check_permutation(permutation)
    n = len(perm)
    out = dict(response)
    for key in ("choice", "most", "least"):
        if key in response:
            out[key] = perm[_index(response[key], n, key)]
    for key in ("ratings", "rank"):
        if key in response:
            values = _per_option(response[key], n, key)
            original: list[Any] = [None] * n
            for d, value in enumerate(values):
                original[perm[d]] = value
            out[key] = original
    return out


def shuffle_response(response: Mapping[str, Any], permutation: Sequence[int]) -> dict[str, Any]:
    """Inverse of :func:`unshuffle_response`: a response in original indices as it would be displayed.

    Useful for showing a saved answer again on the shuffled screen, and for tests.
    """
    perm = _check_permutation(permutation)
    n = len(perm)
    inverse = [0] * n
    for d, original in enumerate(perm):
        inverse[original] = d
    out = dict(response)
    for key in ("choice", "most", "least"):
        if key in response:
            out[key] = inverse[_index(response[key], n, key)]
    for key in ("ratings", "rank"):
        if key in response:
            values = _per_option(response[key], n, key)
            out[key] = [values[perm[d]] for d in range(n)]
    return out


def displayed_options(options: Sequence[str], permutation: Sequence[int] | None) -> list[str]:
    """Option texts in displayed order (``options[perm[d]]``); the original order when there is no
    permutation."""
    if permutation is None:
        return list(options)
    perm = _check_permutation(permutation)
    if len(perm) != len(options):
        raise ValueError(f"permutation of {len(perm)} options for an item with {len(options)}")
    return [options[p] for p in perm]


# ---------------------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------------------


def exposure_weights(pool: ItemPool, exposure: Mapping[str, float] | ArrayLike | None) -> FloatArray:
    """Selection weights ``K_j / (1 + e_j)`` over unified indices (pretest items have K = 1).

    Parameters
    ----------
    pool : ItemPool
    exposure : mapping of item id to exposure, or array of shape (J,) or (J + P,), optional
        Non-negative exposure so far (counts or rates; larger = seen more often). Missing = 0.

    Returns
    -------
    ndarray of float64, shape (J + P,)
    """
    total = pool.n_items + len(pool.pretest_ids)
    e = np.zeros(total)
    if isinstance(exposure, Mapping):
        for item, value in exposure.items():
            if item in pool:
                e[pool.unified_index(item)] = float(value)
    elif exposure is not None:
        arr = np.asarray(exposure, dtype=np.float64).reshape(-1)
        if arr.shape[0] not in (pool.n_items, total):
            raise AssemblyError(
                f"exposure has {arr.shape[0]} entries; expected {pool.n_items} (operational) or {total} "
                "(operational + pretest)"
            )
        e[: arr.shape[0]] = arr
    if np.any(~np.isfinite(e) | (e < 0)):
        raise AssemblyError("exposure values must be finite and non-negative")
    k = np.ones(total)
    k[: pool.n_items] = pool.k
    out: FloatArray = k / (1.0 + e)
    return out


def _draw(candidates: IntArray, weights: FloatArray, rng: np.random.Generator) -> int:
    w = weights[candidates]
    total = w.sum()
    if total <= 0:  # every candidate has K = 0: exposure control cannot help, draw uniformly
        return int(candidates[rng.integers(candidates.shape[0])])
    u = rng.random() * total
    return int(candidates[min(int(np.searchsorted(np.cumsum(w), u, side="right")), candidates.shape[0] - 1)])


def _block(pool: ItemPool, blocked: BoolArray, unified: int) -> None:
    indptr, indices = pool.enemy_graph
    blocked[unified] = True
    blocked[indices[indptr[unified] : indptr[unified + 1]]] = True


def choose_pretest(
    pool: ItemPool,
    around: Sequence[str],
    pretest: int | Sequence[str],
    rng: np.random.Generator,
    exposure: Mapping[str, float] | ArrayLike | None = None,
) -> list[str]:
    """Pretest items for one candidate, free of enemies of ``around`` and of each other.

    Parameters
    ----------
    pool : ItemPool
    around : sequence of str
        Items already on the form (their enemies are excluded).
    pretest : int or sequence of str
        How many pretest items to draw (weights of :func:`exposure_weights`), or exactly which ones.
    rng : numpy.random.Generator
    exposure : see :func:`exposure_weights`

    Returns
    -------
    list of str

    Raises
    ------
    AssemblyError
        When the pool has too few free pretest items, or a given id is not a pretest item of the pool or is
        an enemy of the form.
    """
    blocked = np.zeros(pool.n_items + len(pool.pretest_ids), dtype=bool)
    for item in around:
        _block(pool, blocked, pool.unified_index(item))
    if not isinstance(pretest, int):
        chosen = [str(p) for p in pretest]
        for item in chosen:
            if not pool.is_pretest(item):
                raise AssemblyError(f"item {item!r} is operational, not a pretest item of the pool")
        _check_no_enemies(pool, [*around, *chosen])
        return chosen
    weights = exposure_weights(pool, exposure)
    drawn: list[str] = []
    pretest_unified = np.arange(pool.n_items, blocked.shape[0], dtype=np.int64)
    for _ in range(pretest):
        free = pretest_unified[~blocked[pretest_unified]]
        if free.shape[0] == 0:
            raise AssemblyError(
                f"only {len(drawn)} of {pretest} pretest items could be seeded: the pool's "
                f"{len(pool.pretest_ids)} pretest items are used or enemies of items on the form"
            )
        u = _draw(free, weights, rng)
        drawn.append(pool.item_id(u))
        _block(pool, blocked, u)
    return drawn


def seed_pretest(
    pool: ItemPool,
    item_ids: Sequence[str],
    pretest: int | Sequence[str],
    rng: np.random.Generator,
    exposure: Mapping[str, float] | ArrayLike | None = None,
    positions: Sequence[int] | None = None,
) -> Form:
    """Insert pretest items of the pool into an ordered list of items.

    The pretest items come from :func:`choose_pretest` (a number to draw, or given ids) and go to
    ``positions`` (0-based positions in the final sequence) or, by default, to uniformly random positions.

    Returns
    -------
    Form
        Without permutations; items of ``item_ids`` that are pretest items of the pool are marked pretest too.

    Raises
    ------
    AssemblyError
        When the pool has too few pretest items free of enemies, or for bad positions.
    """
    chosen = choose_pretest(pool, item_ids, pretest, rng, exposure)
    n_pretest = len(chosen)
    total = len(item_ids) + n_pretest
    if positions is None:
        where = sorted(int(p) for p in rng.choice(total, size=n_pretest, replace=False)) if n_pretest else []
    else:
        where = sorted(int(p) for p in positions)
        if (
            len(where) != n_pretest
            or len(set(where)) != n_pretest
            or (where and not 0 <= where[0] <= where[-1] < total)
        ):
            raise AssemblyError(
                f"pretest positions must be {n_pretest} distinct positions in 0..{total - 1}, "
                f"got {list(positions)}"
            )
    sequence: list[str] = []
    operational = iter(item_ids)
    seeded = iter(chosen)
    slots = set(where)
    for pos in range(total):
        sequence.append(next(seeded) if pos in slots else next(operational))
    unscored = set(chosen) | {i for i in item_ids if pool.is_pretest(i)}
    return Form(item_ids=tuple(sequence), pretest=tuple(i for i in sequence if i in unscored))


def _check_no_enemies(pool: ItemPool, item_ids: Sequence[str]) -> None:
    present = set(item_ids)
    for item in item_ids:
        together = sorted(pool.enemies_of(item) & present)
        if together:
            raise AssemblyError(f"items {item!r} and {together[0]!r} are enemies and cannot share a form")


def assemble_fixed(
    pool: ItemPool,
    item_ids: Sequence[str],
    rng: np.random.Generator | None = None,
    *,
    pretest: int | Sequence[str] = 0,
    exposure: Mapping[str, float] | ArrayLike | None = None,
    n_options: Mapping[str, int] | None = None,
) -> Form:
    """A fixed form: the given items in the given order, checked.

    Items of ``item_ids`` that are pretest items of the pool are unscored. More pretest items (a number to
    draw, or given ids) can be seeded at random positions (:func:`seed_pretest`), and options shuffled
    (:func:`shuffle_form`); both need ``rng``.

    Parameters
    ----------
    pool : ItemPool
    item_ids : sequence of str
        The form in delivery order.
    rng : numpy.random.Generator, optional
        Needed only for seeding and shuffling.
    pretest : int or sequence of str, default 0
    exposure : see :func:`exposure_weights`
        Weights for drawing the seeded pretest items.
    n_options : mapping of item id to number of options, optional
        Shuffle the options of these items.

    Returns
    -------
    Form

    Raises
    ------
    AssemblyError
        For an empty form, an id not in the pool, a repeated item, or two enemies on the form (naming them).
    """
    items = [str(i) for i in item_ids]
    if not items:
        raise AssemblyError("a fixed form needs at least one item")
    seen: set[str] = set()
    for item in items:
        pool.unified_index(item)
        if item in seen:
            raise AssemblyError(f"item {item!r} appears twice on the fixed form")
        seen.add(item)
    _check_no_enemies(pool, items)
    if (pretest or n_options) and rng is None:
        raise AssemblyError("seeding pretest items or shuffling options needs an rng")
    if pretest:
        assert rng is not None
        form = seed_pretest(pool, items, pretest, rng, exposure)
    else:
        form = Form(item_ids=tuple(items), pretest=tuple(i for i in items if pool.is_pretest(i)))
    if n_options:
        assert rng is not None
        form = shuffle_form(form, n_options, rng)
    return form


def assemble_loft(
    pool: ItemPool,
    blueprint: Blueprint,
    rng: np.random.Generator,
    exposure: Mapping[str, float] | ArrayLike | None = None,
    *,
    n_options: Mapping[str, int] | None = None,
    order: str = "random",
    max_tries: int = 20,
) -> Form:
    """A linear-on-the-fly form meeting the blueprint exactly (see the module docstring).

    Parameters
    ----------
    pool : ItemPool
    blueprint : Blueprint
        Exact counts per category, difficulty window, number of pretest items to seed.
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same form.
    exposure : mapping of item id to exposure, or array, optional
        Exposure so far (see :func:`exposure_weights`); less exposed items are more likely.
    n_options : mapping of item id to number of options, optional
        Shuffle the options of these items.
    order : {"random", "blueprint"}, default "random"
        Delivery order of the operational items; pretest items go to random positions either way.
    max_tries : int, default 20
        Fresh draws before giving up when enemies leave a category short.

    Returns
    -------
    Form

    Raises
    ------
    BlueprintError
        For a blueprint the pool cannot fill (naming the category), or an empty blueprint.
    """
    if order not in ORDERS:
        raise AssemblyError(f"order must be one of {ORDERS}, got {order!r}")
    if blueprint.length == 0:
        raise BlueprintError("the blueprint selects no items: give at least one positive count")
    blueprint.validate(pool)
    codes = pool.category_codes(blueprint.categories)
    eligible = blueprint.eligible(pool) & (codes >= 0)
    weights = exposure_weights(pool, exposure)
    need = np.array([blueprint.counts[c] for c in blueprint.categories], dtype=np.int64)
    available = blueprint.available(pool)
    have = np.array([available[c] for c in blueprint.categories], dtype=np.int64)
    # Tightest categories first: they are the ones that enemies drawn elsewhere could leave short.
    category_order = [int(c) for c in np.argsort(have - need, kind="stable") if need[c] > 0]
    members = {c: np.flatnonzero(eligible & (codes == c)).astype(np.int64) for c in category_order}
    short, short_category = "", ""
    for _ in range(max(1, max_tries)):
        blocked = np.zeros(pool.n_items + len(pool.pretest_ids), dtype=bool)
        chosen: list[int] = []
        failed = None
        for c in category_order:
            for _ in range(int(need[c])):
                free = members[c][~blocked[members[c]]]
                if free.shape[0] == 0:
                    failed = c
                    break
                u = _draw(free, weights, rng)
                chosen.append(u)
                _block(pool, blocked, u)
            if failed is not None:
                break
        if failed is None:
            break
        name = short_category = blueprint.categories[failed]
        short = (
            f"category {name!r} needs {int(need[failed])} items but enemies of the other items drawn left "
            f"too few of its {int(have[failed])} eligible items (tried {max(1, max_tries)} times)"
        )
    else:
        raise BlueprintError(short, category=short_category)
    if order == "random":
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
    else:
        chosen.sort(key=lambda u: int(codes[u]))
    items = [pool.item_id(u) for u in chosen]
    form = seed_pretest(pool, items, blueprint.n_pretest, rng, exposure)
    if n_options:
        form = shuffle_form(form, n_options, rng)
    return form
