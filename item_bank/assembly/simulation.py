"""Simulation of a section design before it is used: precision, reliability, length and item exposure.

:func:`simulate_design` draws true abilities (N(0, 1) by default), gives every simulated candidate the
section exactly as delivery would (the same assembly and selection code), draws responses from the item
parameters, scores them by EAP and reports:

* **precision**: mean SE (posterior SD), RMSE and bias against the true theta, mean SE and RMSE by decile of
  the true theta;
* **reliability**: empirical reliability ``var(theta_hat) / (var(theta_hat) + mean(se^2))``
  (:func:`item_bank.irt.scoring.empirical_reliability`) and the squared correlation of estimated and true
  theta. For EAP estimates under the right prior the two estimate the same quantity,
  ``var(E[theta | x]) / var(theta)``, so they agree up to sampling error (a check of the whole chain);
* **length**: operational items per candidate (constant for linear forms; for CAT with the stopping reasons);
* **exposure**: the share of candidates who saw each operational item; its maximum, the share of the pool
  never used and the share above a target rate (default 0.25);
* **blueprint conformity**: LOFT, the share of forms with the exact counts, every item in the difficulty
  window and no two enemies (checked independently of the assembler); CAT, the share of candidates whose
  category counts are within one item of ``p_c * length``.

:func:`calibrate_sympson_hetter` finds the Sympson-Hetter ``K_j`` by the usual iteration (Sympson & Hetter,
1985): start from ``K = 1``; simulate; with ``P(S_j)`` the share of candidates for whom item j was selected
(administered or set aside), set ``K_j = min(1, r / P(S_j))`` for the target rate r; repeat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from item_bank.assembly.blueprint import Blueprint
from item_bank.assembly.cat import (
    NO_ITEM,
    CATDesign,
    content_targets,
    eap_update,
    eligible_items,
    plan_pretest,
    scoring_table,
    select_items,
    stop_mask,
    stop_reasons,
)
from item_bank.assembly.design import SectionDesign
from item_bank.assembly.linear import Form, assemble_fixed, assemble_loft
from item_bank.assembly.pool import AssemblyError, ItemPool, neighbours
from item_bank.irt.models import simulate_responses
from item_bank.irt.scoring import eap_scores, empirical_reliability

__all__ = [
    "DEFAULT_EXPOSURE_TARGET",
    "DesignReport",
    "SympsonHetterCalibration",
    "calibrate_sympson_hetter",
    "format_report",
    "simulate_design",
    "standard_normal",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

DEFAULT_EXPOSURE_TARGET = 0.25
"""Exposure rate above which an item counts as over-exposed in reports."""
_CHUNK = 1024  # simulated candidates processed together: bounds the (n, J) arrays


def standard_normal(rng: np.random.Generator, n: int) -> FloatArray:
    """Default ability distribution: N(0, 1), the calibration population."""
    return rng.normal(size=n)


ThetaDistribution = Callable[[np.random.Generator, int], ArrayLike]


@dataclass(frozen=True)
class DesignReport:
    """What a section design delivers over simulated candidates.

    Attributes
    ----------
    name, mode : str
    item_ids : tuple of str, length J
        The pool's operational items (the order of ``exposure``).
    theta : ndarray, shape (N,)
        True abilities.
    theta_hat, se : ndarray, shape (N,)
        EAP estimates and posterior SDs.
    length : ndarray of int64, shape (N,)
        Operational items given to each candidate.
    exposure : ndarray, shape (J,)
        Share of candidates who were given each operational item.
    exposure_target : float
    stop_reasons : mapping of str to int
        CAT only: how many candidates stopped for each reason.
    conformity : float or None
        Share of candidates whose section met the blueprint (see the module docstring); None without one.
    """

    name: str
    mode: str
    item_ids: tuple[str, ...]
    theta: FloatArray
    theta_hat: FloatArray
    se: FloatArray
    length: IntArray
    exposure: FloatArray
    exposure_target: float = DEFAULT_EXPOSURE_TARGET
    stop_reasons: Mapping[str, int] = field(default_factory=dict)
    conformity: float | None = None

    @property
    def n_candidates(self) -> int:
        """Number of simulated candidates N."""
        return int(self.theta.shape[0])

    @property
    def mean_se(self) -> float:
        """Mean SE (posterior SD) over candidates."""
        return float(np.mean(self.se))

    @property
    def rmse(self) -> float:
        """Root mean squared error of the estimates against the true theta."""
        return float(np.sqrt(np.mean((self.theta_hat - self.theta) ** 2)))

    @property
    def bias(self) -> float:
        """Mean of estimate minus true theta."""
        return float(np.mean(self.theta_hat - self.theta))

    @property
    def correlation(self) -> float:
        """Pearson correlation of estimated and true theta."""
        return float(np.corrcoef(self.theta_hat, self.theta)[0, 1])

    @property
    def reliability(self) -> float:
        """Empirical reliability from the estimates and their SEs."""
        return empirical_reliability(self.theta_hat, self.se)

    def _deciles(self) -> IntArray:
        edges = np.quantile(self.theta, np.linspace(0.1, 0.9, 9))
        out: IntArray = np.searchsorted(edges, self.theta, side="right").astype(np.int64)
        return out

    @property
    def se_by_decile(self) -> FloatArray:
        """Mean SE in each decile of the true theta, shape (10,) (NaN for an empty decile)."""
        return self._by_decile(self.se, root=False)

    @property
    def rmse_by_decile(self) -> FloatArray:
        """RMSE in each decile of the true theta, shape (10,)."""
        return self._by_decile((self.theta_hat - self.theta) ** 2, root=True)

    def _by_decile(self, values: FloatArray, *, root: bool) -> FloatArray:
        d = self._deciles()
        count = np.bincount(d, minlength=10).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(d, weights=values, minlength=10) / count
        out: FloatArray = np.sqrt(mean) if root else mean
        return out

    @property
    def max_exposure(self) -> float:
        """Largest exposure rate of an operational item."""
        return float(self.exposure.max()) if self.exposure.size else 0.0

    @property
    def share_unused(self) -> float:
        """Share of the pool's operational items that no candidate saw."""
        return float(np.mean(self.exposure == 0)) if self.exposure.size else 0.0

    @property
    def share_over_target(self) -> float:
        """Share of the pool's operational items seen by more than ``exposure_target`` of the candidates."""
        return float(np.mean(self.exposure > self.exposure_target)) if self.exposure.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-candidate arrays; decile arrays as lists, NaN as None)."""

        def clean(values: FloatArray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 4) for v in values]

        return {
            "name": self.name,
            "mode": self.mode,
            "n_candidates": self.n_candidates,
            "n_pool_items": len(self.item_ids),
            "mean_se": self.mean_se,
            "rmse": self.rmse,
            "bias": self.bias,
            "correlation": self.correlation,
            "squared_correlation": self.correlation**2,
            "reliability": self.reliability,
            "se_by_decile": clean(self.se_by_decile),
            "rmse_by_decile": clean(self.rmse_by_decile),
            "length": {
                "mean": float(self.length.mean()),
                "min": int(self.length.min()),
                "median": float(np.median(self.length)),
                "max": int(self.length.max()),
            },
            "stop_reasons": dict(self.stop_reasons),
            "exposure": {
                "max": self.max_exposure,
                "mean": float(self.exposure.mean()) if self.exposure.size else 0.0,
                "share_unused": self.share_unused,
                "target": self.exposure_target,
                "share_over_target": self.share_over_target,
                "most_exposed": [
                    [self.item_ids[j], round(float(self.exposure[j]), 4)]
                    for j in np.argsort(-self.exposure, kind="stable")[:5]
                ],
            },
            "blueprint_conformity": self.conformity,
        }


# ---------------------------------------------------------------------------------------------------------
# Adaptive sections
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _CATRun:
    theta_hat: FloatArray
    se: FloatArray
    length: IntArray
    administered: FloatArray  # (J,) counts
    selected: FloatArray  # (J,) candidates for whom the item was administered or set aside
    reasons: Counter[str]
    within_one: BoolArray  # (N,) content counts within one item of the targets (True without a blueprint)
    items: IntArray  # (N, max_length) administered operational items, -1 after the end
    responses: IntArray  # (N, max_length) their simulated categories, -1 after the end


def _simulate_cat(pool: ItemPool, design: CATDesign, theta: FloatArray, rng: np.random.Generator) -> _CATRun:
    nodes, log_prior, log_p = scoring_table(pool, design)
    eligible = eligible_items(pool, design)
    targets = content_targets(pool, design)
    indptr, indices = pool.enemy_graph
    n_total, n_items, max_len = theta.shape[0], pool.n_items, design.max_length
    out = _CATRun(
        theta_hat=np.empty(n_total),
        se=np.empty(n_total),
        length=np.zeros(n_total, dtype=np.int64),
        administered=np.zeros(n_items),
        selected=np.zeros(n_items),
        reasons=Counter(),
        within_one=np.ones(n_total, dtype=bool),
        items=np.full((n_total, max_len), -1, dtype=np.int64),
        responses=np.full((n_total, max_len), -1, dtype=np.int64),
    )
    for start in range(0, n_total, _CHUNK):
        th = theta[start : start + _CHUNK]
        n = th.shape[0]
        x_all = simulate_responses(pool.params, th, rng).astype(np.int16)
        available = np.tile(eligible, (n, 1))
        for i in range(n):  # pretest items are drawn per candidate; their operational enemies are excluded
            plan = plan_pretest(pool, design, rng)
            if plan:
                rows = np.array([pool.unified_index(item) for _, item in plan], dtype=np.int64)
                _, enemies = neighbours(indptr, indices, rows)
                available[i, enemies[enemies < n_items]] = False
        log_post = np.tile(log_prior, (n, 1))
        est, se = eap_update(log_post, nodes, design.prior_mean)
        counts = None if targets is None else np.zeros((n, targets[1].shape[0]), dtype=np.int64)
        n_done = np.zeros(n, dtype=np.int64)
        active = np.ones(n, dtype=bool)
        selected = np.zeros((n, n_items), dtype=bool)
        for _ in range(max_len + 1):
            stopping = active & stop_mask(design, n_done, se)
            if stopping.any():
                rows_stop = np.flatnonzero(stopping)
                out.reasons.update(r or "" for r in stop_reasons(design, n_done[rows_stop], se[rows_stop]))
                active[rows_stop] = False
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            chosen, aside = select_items(
                pool,
                design,
                est[idx],
                available[idx],
                None if counts is None else counts[idx],
                n_done[idx],
                rng,
            )
            if aside is not None:
                available[idx] &= ~aside
                selected[idx] |= aside
            none = chosen == NO_ITEM
            if none.any():
                out.reasons["pool_exhausted"] += int(none.sum())
                active[idx[none]] = False
            r, j = idx[~none], chosen[~none]
            selected[r, j] = True
            available[r, j] = False
            owner, enemies = neighbours(indptr, indices, j)
            keep = enemies < n_items
            available[r[owner[keep]], enemies[keep]] = False
            if counts is not None and targets is not None:
                c = targets[0][j]
                ok = c >= 0
                counts[r[ok], c[ok]] += 1
            x = x_all[r, j]
            log_post[r] += log_p[j, x]
            est[r], se[r] = eap_update(log_post[r], nodes, design.prior_mean)
            out.items[start + r, n_done[r]] = j
            out.responses[start + r, n_done[r]] = x
            n_done[r] += 1
        sl = slice(start, start + n)
        out.theta_hat[sl], out.se[sl], out.length[sl] = est, se, n_done
        out.selected += selected.sum(axis=0)
        if counts is not None and targets is not None:
            expected = targets[1][None, :] * n_done[:, None]
            out.within_one[sl] = np.all(np.abs(counts - expected) <= 1.0 + 1e-9, axis=1)
    administered = out.items[out.items >= 0]
    out.administered = np.bincount(administered, minlength=n_items).astype(np.float64)
    return out


def _cat_design(section: SectionDesign | CATDesign) -> CATDesign:
    if isinstance(section, CATDesign):
        return section
    if section.cat is None:
        raise AssemblyError(f"section {section.name!r} is {section.mode}, not adaptive")
    return section.cat


# ---------------------------------------------------------------------------------------------------------
# Linear sections
# ---------------------------------------------------------------------------------------------------------


def _conforms(pool: ItemPool, blueprint: Blueprint, form: Form) -> bool:
    """Exact counts, every item in the window, no two enemies, the right number of pretest items."""
    scored = form.scored_ids
    found = Counter(pool.category(i) for i in scored)
    counts_ok = (
        all(found.get(c, 0) == n for c, n in blueprint.counts.items()) and len(scored) == blueprint.length
    )
    window_ok = True
    if blueprint.difficulty is not None:
        lo, hi = blueprint.difficulty
        loc = pool.location[[pool.unified_index(i) for i in scored]]
        window_ok = bool(np.all((loc >= lo) & (loc <= hi)))
    present = set(form.item_ids)
    enemies_ok = all(not (pool.enemies_of(i) & present) for i in form.item_ids)
    unique_ok = len(present) == len(form.item_ids)
    return counts_ok and window_ok and enemies_ok and unique_ok and len(form.pretest) == blueprint.n_pretest


def _simulate_linear(
    pool: ItemPool, section: SectionDesign, theta: FloatArray, rng: np.random.Generator
) -> tuple[BoolArray, float | None]:
    """Which operational items each candidate got (N, J), and the LOFT conformity share."""
    n_total = theta.shape[0]
    on_form = np.zeros((n_total, pool.n_items), dtype=bool)
    if section.mode == "fixed":
        form = assemble_fixed(pool, section.items)
        on_form[:, [pool.unified_index(i) for i in form.scored_ids]] = True
        return on_form, None
    assert section.blueprint is not None
    exposure = np.zeros(pool.n_items + len(pool.pretest_ids))
    conform = 0
    for i in range(n_total):
        form = assemble_loft(pool, section.blueprint, rng, exposure, order=section.order)
        given = [pool.unified_index(item) for item in form.item_ids]
        exposure[given] += 1.0
        on_form[i, [u for u in given if u < pool.n_items]] = True
        conform += _conforms(pool, section.blueprint, form)
    return on_form, conform / n_total if n_total else None


# ---------------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------------


def _draw_theta(
    rng: np.random.Generator, n_candidates: int, theta_distribution: ThetaDistribution | None
) -> FloatArray:
    if n_candidates < 2:
        raise AssemblyError(f"simulate at least 2 candidates, got {n_candidates}")
    draw = standard_normal if theta_distribution is None else theta_distribution
    theta = np.asarray(draw(rng, n_candidates), dtype=np.float64).reshape(-1)
    if theta.shape[0] != n_candidates or not np.all(np.isfinite(theta)):
        raise AssemblyError(f"theta_distribution must return {n_candidates} finite values")
    return theta


def simulate_design(
    pool: ItemPool,
    section_design: SectionDesign | CATDesign,
    n_candidates: int,
    rng: np.random.Generator,
    theta_distribution: ThetaDistribution | None = None,
    *,
    exposure_target: float = DEFAULT_EXPOSURE_TARGET,
) -> DesignReport:
    """Simulate ``n_candidates`` candidates taking one section (see the module docstring).

    Parameters
    ----------
    pool : ItemPool
    section_design : SectionDesign or CATDesign
        A CATDesign alone is an adaptive section.
    n_candidates : int
        At least 2.
    rng : numpy.random.Generator
        Abilities, assembly, selection and responses all draw from it.
    theta_distribution : callable ``(rng, n) -> array of n thetas``, optional
        Defaults to N(0, 1) (:func:`standard_normal`).
    exposure_target : float, default 0.25
        Rate above which an item counts as over-exposed.

    Returns
    -------
    DesignReport

    Raises
    ------
    AssemblyError
        For a design the pool cannot serve (see the sections' ``validate``).
    """
    section = (
        SectionDesign(mode="cat", blueprint=section_design.blueprint, cat=section_design)
        if isinstance(section_design, CATDesign)
        else section_design
    )
    section.validate(pool)
    theta = _draw_theta(rng, n_candidates, theta_distribution)
    if section.mode == "cat":
        design = _cat_design(section)
        run = _simulate_cat(pool, design, theta, rng)
        has_blueprint = content_targets(pool, design) is not None
        return DesignReport(
            name=section.name,
            mode=section.mode,
            item_ids=pool.item_ids,
            theta=theta,
            theta_hat=run.theta_hat,
            se=run.se,
            length=run.length,
            exposure=run.administered / n_candidates,
            exposure_target=exposure_target,
            stop_reasons=dict(run.reasons),
            conformity=float(run.within_one.mean()) if has_blueprint else None,
        )
    on_form, conformity = _simulate_linear(pool, section, theta, rng)
    theta_hat = np.empty(n_candidates)
    se = np.empty(n_candidates)
    for start in range(0, n_candidates, _CHUNK):
        sl = slice(start, start + _CHUNK)
        x = simulate_responses(pool.params, theta[sl], rng)
        x[~on_form[sl]] = -1
        result = eap_scores(pool.params, x)
        theta_hat[sl], se[sl] = result.theta, result.se
    return DesignReport(
        name=section.name,
        mode=section.mode,
        item_ids=pool.item_ids,
        theta=theta,
        theta_hat=theta_hat,
        se=se,
        length=on_form.sum(axis=1).astype(np.int64),
        exposure=on_form.mean(axis=0),
        exposure_target=exposure_target,
        conformity=conformity,
    )


@dataclass(frozen=True)
class SympsonHetterCalibration:
    """Result of :func:`calibrate_sympson_hetter`.

    Attributes
    ----------
    k : ndarray, shape (J,)
        Calibrated ``K_j`` (use with ``pool.with_exposure(k)``).
    max_exposure : ndarray, shape (iterations,)
        Largest exposure rate in each iteration's simulation (with the K of that iteration).
    selection_rate : ndarray, shape (J,)
        ``P(S_j)`` in the last iteration.
    exposure : ndarray, shape (J,)
        ``P(A_j)`` in the last iteration.
    """

    k: FloatArray
    max_exposure: FloatArray
    selection_rate: FloatArray
    exposure: FloatArray


def calibrate_sympson_hetter(
    pool: ItemPool,
    design: SectionDesign | CATDesign,
    target_rate: float,
    n_candidates: int,
    rng: np.random.Generator,
    iterations: int = 10,
    theta_distribution: ThetaDistribution | None = None,
) -> SympsonHetterCalibration:
    """Sympson-Hetter exposure parameters by iterative simulation (see the module docstring).

    Parameters
    ----------
    pool : ItemPool
        Its own ``k`` is ignored: the iteration starts from ``K = 1``.
    design : SectionDesign or CATDesign
        An adaptive design; it is simulated with ``selection="sympson_hetter"`` whatever it says.
    target_rate : float
        Largest acceptable exposure rate r, in (0, 1].
    n_candidates : int
        Simulated candidates per iteration (fresh abilities each time).
    rng : numpy.random.Generator
    iterations : int, default 10
    theta_distribution : see :func:`simulate_design`

    Returns
    -------
    SympsonHetterCalibration
    """
    if not 0.0 < target_rate <= 1.0:
        raise AssemblyError(f"target_rate must lie in (0, 1], got {target_rate!r}")
    if iterations < 1:
        raise AssemblyError(f"iterations must be at least 1, got {iterations!r}")
    cat = replace(_cat_design(design), selection="sympson_hetter")
    cat.validate(pool)
    k = np.ones(pool.n_items)
    history = []
    selection_rate = exposure = np.zeros(pool.n_items)
    for _ in range(iterations):
        current = pool.with_exposure(k)
        theta = _draw_theta(rng, n_candidates, theta_distribution)
        run = _simulate_cat(current, cat, theta, rng)
        selection_rate = run.selected / n_candidates
        exposure = run.administered / n_candidates
        history.append(float(exposure.max()))
        with np.errstate(divide="ignore"):
            k = np.where(selection_rate > target_rate, target_rate / selection_rate, 1.0)
    return SympsonHetterCalibration(
        k=k, max_exposure=np.asarray(history), selection_rate=selection_rate, exposure=exposure
    )


def format_report(report: DesignReport) -> str:
    """A human-readable table of a report (what ``simulate-test`` prints)."""
    d = report.to_dict()
    length = d["length"]
    lines = [
        f"{report.name or '(unnamed)'} [{report.mode}]: {report.n_candidates} simulated candidates, "
        f"{len(report.item_ids)} operational items in the pool",
        f"  precision    mean SE {report.mean_se:.3f}   RMSE {report.rmse:.3f}   bias {report.bias:+.3f}",
        f"  reliability  empirical {report.reliability:.3f}   "
        f"corr(theta_hat, theta)^2 {report.correlation**2:.3f}",
        f"  length       mean {length['mean']:.1f}   min {length['min']}   median {length['median']:g}   "
        f"max {length['max']}",
    ]
    if report.stop_reasons:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.stop_reasons.items()))
        lines.append(f"  stopped      {reasons}")
    lines.append(
        f"  exposure     max {report.max_exposure:.3f}   unused {100 * report.share_unused:.1f} %   "
        f"over {report.exposure_target:g}: {100 * report.share_over_target:.1f} % of the pool"
    )
    if report.conformity is not None:
        what = "forms meet the blueprint exactly" if report.mode == "loft" else "within 1 item of the targets"
        lines.append(f"  blueprint    {100 * report.conformity:.1f} % {what}")
    header = "  ".join(f"{i + 1:>5d}" for i in range(10))
    lines.append(f"  true-theta decile    {header}")
    for label, values in (("mean SE", report.se_by_decile), ("RMSE", report.rmse_by_decile)):
        cells = "  ".join(f"{v:5.3f}" if np.isfinite(v) else "    -" for v in values)
        lines.append(f"  {label:<19s}  {cells}")
    return "\n".join(lines)
