"""Computerised adaptive testing (CAT): item selection, exposure control, content balancing, stopping.

One candidate's adaptive section is a :class:`CATSession`: it holds the administered items and responses,
the current EAP theta and SE, the Sympson-Hetter items set aside and the planned pretest items, and answers
"which item next?" (:meth:`CATSession.next_item`, None = the section is over). The same vectorised selection
step (:func:`select_items`) serves one live candidate and thousands of simulated ones
(:mod:`item_bank.assembly.simulation`), so what the simulation reports is what delivery does.

Each step, for each candidate:

1. **Eligible items**: operational items inside the blueprint's difficulty window and (when the blueprint has
   counts) in one of its categories, not administered, not an enemy of an administered or planned pretest
   item, and not set aside by Sympson-Hetter.
2. **Content balancing** (Kingsbury & Zara, 1989): with target proportions ``p_c = counts_c / length``, the
   next item comes from the category with the largest deficit ``p_c (n + 1) - n_c`` among categories that
   still have eligible items (n = operational items so far, n_c of them in category c; ties broken at
   random). This keeps every ``n_c`` within one item of ``p_c n`` at every length.
3. **Selection** (:data:`SELECTORS`) by Fisher information at the current EAP theta, read from a table on a
   0.05-step theta grid (:meth:`~item_bank.assembly.pool.ItemPool.information_at`):

   * ``max_info``: the most informative item;
   * ``randomesque`` (Kingsbury & Zara, 1989): one of the ``randomesque_k`` most informative, at random;
   * ``sympson_hetter`` (Sympson & Hetter, 1985): items are tried from the most informative down; item j is
     administered with probability ``K_j`` (:attr:`ItemPool.k`), otherwise set aside for the rest of the
     candidate's section and the next is tried. If every eligible item loses its lottery, the most
     informative one is given anyway and nothing is set aside. ``K_j`` come from
     :func:`~item_bank.assembly.simulation.calibrate_sympson_hetter`.

4. **Update**: theta and SE are the posterior mean and SD (EAP, as :func:`item_bank.irt.scoring.eap_scores`:
   normal prior, rectangular quadrature on ``prior_mean + prior_sd * linspace(-6, 6, n_quad)``), updated in
   O(n_quad) per response from a table of log category probabilities at the nodes.
5. **Stopping** (:data:`STOPPING_RULES`): the section ends when at least one *sufficient* rule holds
   (``target_se``: SE <= value; ``max_length``: n >= value) and every *necessary* rule holds (``min_length``:
   n >= value), or when no eligible item is left. Lengths count operational items; pretest items come on top.

**Pretest items** (``blueprint.n_pretest``) are drawn when the session starts (free of each other's enemies;
operational enemies of them are then excluded) and given at ``pretest_positions`` (0-based positions in the
administered sequence), by default at random positions among the first ``min_length + n_pretest`` (the
``max_length`` when there is no minimum). Any not yet given when the operational part stops are given before
the section ends. Their responses are recorded but never change theta.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from item_bank.assembly.blueprint import Blueprint, BlueprintError
from item_bank.assembly.linear import choose_pretest
from item_bank.assembly.pool import AssemblyError, ItemPool, neighbours
from item_bank.irt.models import category_probabilities
from item_bank.irt.scoring import DEFAULT_N_QUAD, quadrature

__all__ = [
    "SELECTORS",
    "STOPPING_RULES",
    "CATDesign",
    "CATSession",
    "Selector",
    "StoppingRule",
    "content_targets",
    "eap_update",
    "eligible_items",
    "plan_pretest",
    "scoring_table",
    "select_items",
    "stop_mask",
    "stop_reasons",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

NO_ITEM = -1
"""Selection result for a candidate with no eligible item left."""

Selector = Callable[[FloatArray, FloatArray, int, np.random.Generator], tuple[IntArray, BoolArray | None]]
"""``(info, k, randomesque_k, rng) -> (chosen, set_aside)``.

``info`` (N, J) is the information of each eligible item (-inf for ineligible ones), ``k`` (J,) the
Sympson-Hetter parameters; ``chosen`` (N,) holds item indices (:data:`NO_ITEM` for an all -inf row) and
``set_aside`` (N, J) the items rejected this step, or None for selectors that never reject."""


def _max_info(
    info: FloatArray, k: FloatArray, randomesque_k: int, rng: np.random.Generator
) -> tuple[IntArray, BoolArray | None]:
    chosen = np.argmax(info, axis=1).astype(np.int64)
    chosen[~np.isfinite(info[np.arange(info.shape[0]), chosen])] = NO_ITEM
    return chosen, None


def _randomesque(
    info: FloatArray, k: FloatArray, randomesque_k: int, rng: np.random.Generator
) -> tuple[IntArray, BoolArray | None]:
    n_items = info.shape[1]
    top = min(max(1, randomesque_k), n_items)
    rows = np.arange(info.shape[0])
    if top == n_items:
        best = np.broadcast_to(np.arange(n_items), info.shape).copy()
    else:
        best = np.argpartition(-info, top - 1, axis=1)[:, :top]
    usable = np.isfinite(info[rows[:, None], best])
    draw = rng.random(best.shape)
    draw[~usable] = -1.0
    pick = np.argmax(draw, axis=1)
    chosen = best[rows, pick].astype(np.int64)
    chosen[~usable[rows, pick]] = NO_ITEM
    return chosen, None


def _sympson_hetter(
    info: FloatArray, k: FloatArray, randomesque_k: int, rng: np.random.Generator
) -> tuple[IntArray, BoolArray | None]:
    rows = np.arange(info.shape[0])
    eligible = np.isfinite(info)
    # Trying items from the most informative down, each accepted with probability K_j, administers the most
    # informative item among those whose lottery succeeds; every eligible item above it was tried and lost.
    passed = eligible & (rng.random(info.shape) < k[None, :])
    best_passed = np.argmax(np.where(passed, info, -np.inf), axis=1)
    some = passed[rows, best_passed]
    fallback = np.argmax(info, axis=1)
    chosen = np.where(some, best_passed, fallback).astype(np.int64)
    chosen[~eligible[rows, chosen]] = NO_ITEM
    # Items above the administered one were tried and lost; when every lottery failed the most informative
    # item is given and nothing is set aside (setting all aside would end the section).
    threshold = np.where(some, info[rows, best_passed], np.inf)
    set_aside = eligible & ~passed & (info > threshold[:, None])
    return chosen, set_aside


SELECTORS: dict[str, Selector] = {
    "max_info": _max_info,
    "randomesque": _randomesque,
    "sympson_hetter": _sympson_hetter,
}
"""Item selection rules by name (see the module docstring)."""


@dataclass(frozen=True)
class StoppingRule:
    """A stopping rule: ``test(n_items, se, value)`` -> bool per candidate.

    ``kind`` is ``"sufficient"`` (the section may stop when it holds) or ``"necessary"`` (the section may not
    stop unless it holds).
    """

    kind: str
    test: Callable[[IntArray, FloatArray, float], BoolArray]
    description: str


STOPPING_RULES: dict[str, StoppingRule] = {
    "target_se": StoppingRule("sufficient", lambda n, se, v: se <= v, "stop once the SE is at most this"),
    "max_length": StoppingRule(
        "sufficient", lambda n, se, v: n >= v, "stop after this many operational items"
    ),
    "min_length": StoppingRule("necessary", lambda n, se, v: n >= v, "never stop before this many items"),
}
"""Stopping rules by name (see the module docstring)."""


@dataclass(frozen=True)
class CATDesign:
    """Configuration of an adaptive section.

    Attributes
    ----------
    blueprint : Blueprint, optional
        Counts give the content-balancing target proportions (and the default maximum length); the
        difficulty window restricts the pool; ``n_pretest`` pretest items are seeded.
    selection : str, default "max_info"
        Key of :data:`SELECTORS`.
    randomesque_k : int, default 5
        Number of most informative items the ``randomesque`` rule picks from.
    stop : mapping of str to float
        Rules of :data:`STOPPING_RULES` with their values, e.g. ``{"target_se": 0.3, "max_length": 40,
        "min_length": 10}``. A maximum length is required (from here or the blueprint).
    pretest_positions : tuple of int, optional
        0-based positions of the pretest items in the administered sequence; random by default.
    prior_mean, prior_sd : float
        Normal prior of the EAP estimates (the calibration population: 0 and 1).
    n_quad : int
        EAP quadrature points.

    Raises
    ------
    AssemblyError
        For an unknown selector or stopping rule, a missing maximum length, min_length > max_length,
        ``randomesque_k`` < 1, or pretest positions that do not match ``n_pretest``.
    """

    blueprint: Blueprint | None = None
    selection: str = "max_info"
    randomesque_k: int = 5
    stop: Mapping[str, float] = field(default_factory=lambda: {"target_se": 0.3, "max_length": 30})
    pretest_positions: tuple[int, ...] | None = None
    prior_mean: float = 0.0
    prior_sd: float = 1.0
    n_quad: int = DEFAULT_N_QUAD

    def __post_init__(self) -> None:
        if self.selection not in SELECTORS:
            raise AssemblyError(f"selection must be one of {sorted(SELECTORS)}, got {self.selection!r}")
        if (
            isinstance(self.randomesque_k, bool)
            or not isinstance(self.randomesque_k, int)
            or self.randomesque_k < 1
        ):
            raise AssemblyError(f"randomesque_k must be a whole number >= 1, got {self.randomesque_k!r}")
        stop: dict[str, float] = {}
        for name, value in self.stop.items():
            if name not in STOPPING_RULES:
                raise AssemblyError(f"unknown stopping rule {name!r}; use one of {sorted(STOPPING_RULES)}")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not np.isfinite(value)
                or value < 0
            ):
                raise AssemblyError(f"stopping rule {name!r} needs a number >= 0, got {value!r}")
            stop[name] = float(value)
        if "max_length" not in stop:
            if self.blueprint is None or self.blueprint.length == 0:
                raise AssemblyError(
                    "an adaptive section needs a maximum length: stop.max_length or blueprint counts"
                )
            stop["max_length"] = float(self.blueprint.length)
        if stop["max_length"] < 1:
            raise AssemblyError(f"max_length must be at least 1, got {stop['max_length']:g}")
        if stop.get("min_length", 0.0) > stop["max_length"]:
            raise AssemblyError(
                f"min_length {stop['min_length']:g} is larger than max_length {stop['max_length']:g}"
            )
        object.__setattr__(self, "stop", stop)
        if self.pretest_positions is not None:
            positions = tuple(int(p) for p in self.pretest_positions)
            if (
                len(positions) != self.n_pretest
                or len(set(positions)) != len(positions)
                or min(positions, default=0) < 0
            ):
                raise AssemblyError(
                    f"pretest_positions must be {self.n_pretest} distinct positions >= 0 (one per pretest "
                    f"item), got {list(self.pretest_positions)}"
                )
            object.__setattr__(self, "pretest_positions", tuple(sorted(positions)))
        if not (np.isfinite(self.prior_mean) and np.isfinite(self.prior_sd) and self.prior_sd > 0):
            raise AssemblyError(
                f"prior must have a finite mean and positive SD, got {self.prior_mean!r}, {self.prior_sd!r}"
            )

    @property
    def max_length(self) -> int:
        """Largest number of operational items."""
        return int(self.stop["max_length"])

    @property
    def min_length(self) -> int:
        """Smallest number of operational items (0 when there is no such rule)."""
        return int(np.ceil(self.stop.get("min_length", 0.0)))

    @property
    def n_pretest(self) -> int:
        """Pretest items seeded per candidate."""
        return 0 if self.blueprint is None else self.blueprint.n_pretest

    def validate(self, pool: ItemPool) -> CATDesign:
        """Return ``self`` if the pool can serve the design, else raise.

        The pool needs, per blueprint category, enough eligible items for the category's share of the
        maximum length (rounded up), enough pretest items, and at least ``min_length`` eligible items.

        Raises
        ------
        BlueprintError
            Naming the category that is short.
        """
        eligible = eligible_items(pool, self)
        if int(eligible.sum()) < self.min_length:
            raise BlueprintError(
                f"min_length is {self.min_length} but only {int(eligible.sum())} operational items are "
                "eligible"
            )
        if self.blueprint is not None:
            available = self.blueprint.available(pool)
            for category, share in self.blueprint.proportions.items():
                need = int(np.ceil(share * self.max_length - 1e-9))
                if available[category] < need:
                    raise BlueprintError(
                        f"category {category!r} needs {need} items for a {self.max_length}-item adaptive "
                        f"section but the pool has {available[category]} eligible operational items in it",
                        category=category,
                    )
            if self.n_pretest > len(pool.pretest_ids):
                raise BlueprintError(
                    f"{self.n_pretest} pretest items are to be seeded but the pool has "
                    f"{len(pool.pretest_ids)}"
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the section keys of :mod:`item_bank.assembly.design`)."""
        out: dict[str, Any] = {"selection": self.selection, "stop": dict(self.stop)}
        if self.selection == "randomesque":
            out["randomesque_k"] = self.randomesque_k
        if self.blueprint is not None:
            out["blueprint"] = self.blueprint.to_dict()
        if self.pretest_positions is not None:
            out["pretest_positions"] = list(self.pretest_positions)
        if (self.prior_mean, self.prior_sd) != (0.0, 1.0):
            out["prior"] = [self.prior_mean, self.prior_sd]
        return out


# ---------------------------------------------------------------------------------------------------------
# Vectorised building blocks, shared by live sessions and simulations
# ---------------------------------------------------------------------------------------------------------


def eligible_items(pool: ItemPool, design: CATDesign) -> BoolArray:
    """Operational items the design may ever select (difficulty window, blueprint categories), shape (J,)."""
    if design.blueprint is None:
        return np.ones(pool.n_items, dtype=bool)
    out = design.blueprint.eligible(pool)
    if design.blueprint.counts:
        out = out & (pool.category_codes(design.blueprint.categories) >= 0)
    return out


def content_targets(pool: ItemPool, design: CATDesign) -> tuple[IntArray, FloatArray] | None:
    """Category code of each operational item (-1 outside the blueprint) and target proportions.

    Returns
    -------
    codes : ndarray of int64, shape (J,)
    proportions : ndarray of float64, shape (C,)
        None instead of the pair when the design has no content balancing.
    """
    if design.blueprint is None or not design.blueprint.counts or design.blueprint.length == 0:
        return None
    names = design.blueprint.categories
    props = design.blueprint.proportions
    return pool.category_codes(names), np.array([props[c] for c in names])


def scoring_table(pool: ItemPool, design: CATDesign) -> tuple[FloatArray, FloatArray, FloatArray]:
    """EAP quadrature and log category probabilities at its nodes, cached on the pool.

    Returns
    -------
    nodes : ndarray, shape (Q,)
    log_prior : ndarray, shape (Q,)
        Log quadrature weights of the normal prior.
    log_p : ndarray, shape (J, K_max, Q)
        ``log P(X_j = k | node_q)``; 0 for categories an item does not have.
    """

    def build() -> tuple[FloatArray, FloatArray, FloatArray]:
        nodes, weights = quadrature(design.n_quad, design.prior_mean, design.prior_sd)
        p = category_probabilities(pool.params, nodes)  # (Q, J, K)
        exists = np.arange(p.shape[2])[None, :] < pool.params.n_categories[:, None]  # (J, K)
        log_p = np.where(exists[None], np.log(np.maximum(p, 1e-300)), 0.0).transpose(1, 2, 0)
        log_p = np.ascontiguousarray(log_p)
        log_w = np.log(weights)
        for array in (nodes, log_w, log_p):
            array.setflags(write=False)
        return nodes, log_w, log_p

    return pool.cached(("eap", design.prior_mean, design.prior_sd, design.n_quad), build)


def eap_update(log_post: FloatArray, nodes: FloatArray, centre: float) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and SD of each row of unnormalised log posteriors (N, Q) over ``nodes`` (Q,).

    The same formula as :func:`item_bank.irt.scoring.eap_scores` (centred at the prior mean to avoid
    cancellation). ``log_post`` is not modified.

    Returns
    -------
    theta, se : ndarray, shape (N,)
    """
    w = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    total = w.sum(axis=1)
    shifted = nodes - centre
    mean = w @ shifted / total
    var = w @ (shifted * shifted) / total - mean * mean
    return mean + centre, np.sqrt(np.maximum(var, 0.0))


def stop_reasons(design: CATDesign, n_items: IntArray, se: FloatArray) -> list[str | None]:
    """Why each candidate's operational part may stop now (the first sufficient rule that holds, in
    :data:`STOPPING_RULES` order), or None where it must go on."""
    stop = stop_mask(design, n_items, se)
    out: list[str | None] = [None] * n_items.shape[0]
    for i in np.flatnonzero(stop):
        for name, rule in STOPPING_RULES.items():
            value = design.stop.get(name)
            if value is None or rule.kind != "sufficient":
                continue
            if rule.test(n_items[i : i + 1], se[i : i + 1], value)[0]:
                out[i] = name
                break
    return out


def stop_mask(design: CATDesign, n_items: IntArray, se: FloatArray) -> BoolArray:
    """Whether each candidate's operational part may stop: some sufficient rule and every necessary rule
    hold. ``n_items`` (N,) operational items so far, ``se`` (N,) current SEs."""
    sufficient = np.zeros(n_items.shape[0], dtype=bool)
    necessary = np.ones(n_items.shape[0], dtype=bool)
    for name, value in design.stop.items():
        rule = STOPPING_RULES[name]
        holds = rule.test(n_items, se, value)
        if rule.kind == "sufficient":
            sufficient |= holds
        else:
            necessary &= holds
    out: BoolArray = sufficient & necessary
    return out


def select_items(
    pool: ItemPool,
    design: CATDesign,
    theta: FloatArray,
    available: BoolArray,
    category_counts: IntArray | None,
    n_items: IntArray,
    rng: np.random.Generator,
) -> tuple[IntArray, BoolArray | None]:
    """One selection step for N candidates at once (content balancing, then the design's selector).

    Parameters
    ----------
    pool : ItemPool
    design : CATDesign
    theta : ndarray, shape (N,)
        Current ability estimates.
    available : ndarray of bool, shape (N, J)
        Eligible items per candidate (see the module docstring, step 1).
    category_counts : ndarray of int64, shape (N, C), or None
        Operational items given so far per blueprint category (None without content balancing).
    n_items : ndarray of int64, shape (N,)
        Operational items given so far.
    rng : numpy.random.Generator

    Returns
    -------
    chosen : ndarray of int64, shape (N,)
        Operational item index per candidate, :data:`NO_ITEM` when none is eligible.
    set_aside : ndarray of bool, shape (N, J), or None
        Items rejected by Sympson-Hetter this step (to be excluded from then on).
    """
    mask = available
    targets = content_targets(pool, design)
    if targets is not None and category_counts is not None:
        codes, props = targets

        def build() -> FloatArray:
            onehot = np.zeros((pool.n_items, props.shape[0]))
            inside = codes >= 0
            onehot[np.flatnonzero(inside), codes[inside]] = 1.0
            return onehot

        onehot = pool.cached(("onehot", design.blueprint.categories if design.blueprint else ()), build)
        # A category with a zero count must not appear at all, even when the others run out.
        has = ((available.astype(np.float64) @ onehot) > 0) & (props[None, :] > 0)  # (N, C)
        deficit = props[None, :] * (n_items[:, None] + 1.0) - category_counts
        deficit = np.where(has, deficit, -np.inf)
        top = deficit.max(axis=1, keepdims=True)
        tie = rng.random(deficit.shape)
        tie[~(has & (deficit >= top - 1e-9))] = -1.0
        category = np.argmax(tie, axis=1)
        mask = available & (codes[None, :] == category[:, None])
    info = np.where(mask, pool.information_at(theta), -np.inf)
    return SELECTORS[design.selection](info, pool.k, design.randomesque_k, rng)


# ---------------------------------------------------------------------------------------------------------
# One live candidate
# ---------------------------------------------------------------------------------------------------------


class CATSession:
    """One candidate's adaptive section: state plus the selection and update steps.

    Create with :meth:`start` (draws the pretest plan), then alternate :meth:`next_item` and :meth:`record`
    until :meth:`next_item` returns None. :meth:`to_dict` / :meth:`from_dict` store and restore the state
    (e.g. in the attempt's row); theta and SE are recomputed from the responses on restore.

    Attributes
    ----------
    pool : ItemPool
    design : CATDesign
    items : list of str
        Administered items in order (pretest items included).
    responses : list of int
        Category score per administered item, -1 for no answer (no information).
    pretest_plan : list of (int, str)
        Planned (position, pretest item id), sorted by position.
    set_aside : set of str
        Items rejected by Sympson-Hetter: never offered again to this candidate.
    pending : str or None
        Item returned by :meth:`next_item` and not yet recorded (returned again on a repeated call).
    theta, se : float
        Current EAP estimate and posterior SD from the operational responses.
    finished : str or None
        Why the section ended (a stopping rule, ``"pool_exhausted"``), None while it runs.
    """

    def __init__(
        self,
        pool: ItemPool,
        design: CATDesign,
        *,
        pretest_plan: Sequence[tuple[int, str]] = (),
    ) -> None:
        self.pool = pool
        self.design = design
        self.items: list[str] = []
        self.responses: list[int] = []
        self.pretest_plan = sorted((int(p), str(i)) for p, i in pretest_plan)
        for _, item in self.pretest_plan:
            if not pool.is_pretest(item):
                raise AssemblyError(f"item {item!r} in the pretest plan is not a pretest item of the pool")
        self.set_aside: set[str] = set()
        self.pending: str | None = None
        self.finished: str | None = None
        _, log_prior, _ = scoring_table(pool, design)
        self._log_post = log_prior.copy()
        self.theta, self.se = self._estimate()

    @classmethod
    def start(
        cls,
        pool: ItemPool,
        design: CATDesign,
        rng: np.random.Generator,
        exposure: Mapping[str, float] | ArrayLike | None = None,
    ) -> CATSession:
        """A new session with its pretest items drawn (weighted by ``exposure``, see
        :func:`~item_bank.assembly.linear.exposure_weights`) and placed."""
        return cls(pool, design, pretest_plan=plan_pretest(pool, design, rng, exposure))

    # -- state -----------------------------------------------------------------------------------------

    @property
    def n_operational(self) -> int:
        """Operational items administered so far."""
        planned = {item for _, item in self.pretest_plan}
        return sum(1 for item in self.items if item not in planned)

    @property
    def operational_items(self) -> list[str]:
        """Administered operational items in order."""
        planned = {item for _, item in self.pretest_plan}
        return [item for item in self.items if item not in planned]

    def _estimate(self) -> tuple[float, float]:
        nodes, _, _ = scoring_table(self.pool, self.design)
        theta, se = eap_update(self._log_post[None, :], nodes, self.design.prior_mean)
        return float(theta[0]), float(se[0])

    def _available(self) -> BoolArray:
        pool = self.pool
        available = eligible_items(pool, self.design).copy()
        taken = [pool.unified_index(i) for i in self.items]
        taken += [pool.unified_index(i) for _, i in self.pretest_plan]
        taken += [pool.unified_index(i) for i in self.set_aside]
        if taken:
            rows = np.asarray(taken, dtype=np.int64)
            indptr, indices = pool.enemy_graph
            _, enemies = neighbours(indptr, indices, rows[: len(self.items) + len(self.pretest_plan)])
            blocked = np.concatenate([rows, enemies])
            available[blocked[blocked < pool.n_items]] = False
        return available

    def _category_counts(self) -> IntArray | None:
        targets = content_targets(self.pool, self.design)
        if targets is None:
            return None
        codes, props = targets
        counts = np.zeros((1, props.shape[0]), dtype=np.int64)
        for item in self.operational_items:
            c = codes[self.pool.unified_index(item)]
            if c >= 0:
                counts[0, c] += 1
        return counts

    # -- steps -----------------------------------------------------------------------------------------

    def next_item(self, rng: np.random.Generator) -> str | None:
        """The item to present next, or None when the section is over (then :attr:`finished` says why).

        Calling it again before :meth:`record` returns the same item (a reloaded page does not draw anew).
        """
        if self.pending is not None:
            return self.pending
        if self.finished is not None:
            return None
        position = len(self.items)
        given = set(self.items)
        waiting = [item for _, item in self.pretest_plan if item not in given]
        due = [item for pos, item in self.pretest_plan if pos <= position and item not in given]
        if due:
            self.pending = due[0]
            return self.pending
        n = np.array([self.n_operational], dtype=np.int64)
        reason = stop_reasons(self.design, n, np.array([self.se]))[0]
        if reason is None:
            chosen, set_aside = select_items(
                self.pool,
                self.design,
                np.array([self.theta]),
                self._available()[None, :],
                self._category_counts(),
                n,
                rng,
            )
            if set_aside is not None:
                self.set_aside.update(self.pool.item_ids[j] for j in np.flatnonzero(set_aside[0]))
            if chosen[0] != NO_ITEM:
                self.pending = self.pool.item_ids[int(chosen[0])]
                return self.pending
            reason = "pool_exhausted"
        if waiting:  # the operational part is over: give the remaining pretest items first
            self.pending = waiting[0]
            return self.pending
        self.finished = reason
        return None

    def record(self, item_id: str, response: int | None) -> None:
        """Record the response (category score 0..K-1, None or -1 = no answer) to ``item_id``.

        Raises
        ------
        AssemblyError
            When ``item_id`` is not the pending item (or, without one, was already given or is not in the
            pool), or the category is out of range.
        """
        pool = self.pool
        if self.pending is not None and item_id != self.pending:
            raise AssemblyError(f"expected a response to {self.pending!r}, got one to {item_id!r}")
        if item_id in self.items:
            raise AssemblyError(f"item {item_id!r} was already administered in this section")
        u = pool.unified_index(item_id)
        x = -1 if response is None else int(response)
        if u < pool.n_items:
            n_cat = int(pool.params.n_categories[u])
            if not -1 <= x < n_cat:
                raise AssemblyError(
                    f"item {item_id!r}: response {x} is out of range; use 0..{n_cat - 1} or -1"
                )
        self.items.append(item_id)
        self.responses.append(x)
        self.pending = None
        planned = {item for _, item in self.pretest_plan}
        if u < pool.n_items and x >= 0 and item_id not in planned:
            _, _, log_p = scoring_table(pool, self.design)
            self._log_post += log_p[u, x]
            self.theta, self.se = self._estimate()

    # -- persistence -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (theta and SE included for display; they are recomputed on restore)."""
        return {
            "items": list(self.items),
            "responses": list(self.responses),
            "pretest_plan": [[p, i] for p, i in self.pretest_plan],
            "set_aside": sorted(self.set_aside),
            "pending": self.pending,
            "finished": self.finished,
            "theta": self.theta,
            "se": self.se,
        }

    @classmethod
    def from_dict(cls, pool: ItemPool, design: CATDesign, data: Mapping[str, Any]) -> CATSession:
        """Restore a session saved by :meth:`to_dict` by replaying its responses."""
        session = cls(pool, design, pretest_plan=[(int(p), str(i)) for p, i in data.get("pretest_plan", [])])
        items, responses = list(data.get("items", [])), list(data.get("responses", []))
        if len(items) != len(responses):
            raise AssemblyError(f"saved session has {len(items)} items but {len(responses)} responses")
        for item, response in zip(items, responses, strict=True):
            session.record(str(item), None if response is None else int(response))
        session.set_aside = {str(i) for i in data.get("set_aside", [])}
        session.pending = data.get("pending")
        session.finished = data.get("finished")
        return session


def plan_pretest(
    pool: ItemPool,
    design: CATDesign,
    rng: np.random.Generator,
    exposure: Mapping[str, float] | ArrayLike | None = None,
) -> list[tuple[int, str]]:
    """Draw a candidate's pretest items and their positions (see the module docstring).

    Returns
    -------
    list of (position, item id), sorted by position
    """
    n = design.n_pretest
    if n == 0:
        return []
    items = choose_pretest(pool, (), n, rng, exposure)
    if design.pretest_positions is not None:
        positions = list(design.pretest_positions)
    else:
        span = (design.min_length or design.max_length) + n
        positions = sorted(int(p) for p in rng.choice(span, size=n, replace=False))
    return list(zip(positions, items, strict=True))
