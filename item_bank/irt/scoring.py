"""Person scoring: EAP, MAP, ML and WLE thetas with standard errors; sum-score tables; reliability.

All scorers take item parameters and a response matrix (N, J) of categories with -1 for "not presented", and
return a :class:`ScoreResult` with a theta and an SE for every person. They share one keyword signature so
that they can live in the :data:`SCORERS` registry:

``eap`` (default)
    Posterior mean and SD under a normal prior N(prior_mean, prior_sd^2), by rectangular quadrature on
    ``prior_mean + prior_sd * linspace(-6, 6, n_quad)`` (R mirt's grid for the standard normal; 61 points).
    The log-likelihood of a block of persons at all nodes is a sum of GEMMs
    ``L = M @ logP_0^T + sum_{k>=1} [X == k] @ (logP_k - logP_0)^T`` (M = observed mask; a constant row when
    nothing is missing), so 100,000 persons x 200 dichotomous items cost one (N x J)(J x Q) product, two with
    missing responses.
``map``
    Posterior mode under the same prior; SE = ``1 / sqrt(I(theta) + 1 / prior_sd^2)``.
``ml``
    Maximum likelihood; SE = ``1 / sqrt(I(theta))`` with I the test information of the person's own items.
``wle``
    Warm's (1989) weighted likelihood: the root of ``S(theta) + J(theta) / (2 I(theta)) = 0`` with S the
    score, I the test information and ``J = sum_j sum_k P'_jk P''_jk / P_jk``; SE = ``1 / sqrt(I(theta))``.

Modal estimates (map, ml, wle) are found from the EAP estimate by Newton steps (observed information; Fisher
information where the observed one is not positive), vectorised over persons and safeguarded by bisection
inside a bracket that always contains a sign change of the estimating equation.

**Bounds (documented rule for extreme patterns).** Modal estimates are restricted to
``theta_bounds = (-6, 6)`` (the EAP grid's range for a standard normal prior). When the estimating equation is
still positive at the upper bound (all answers in the top category, for ML) the estimate is the upper bound;
still negative at the lower bound (all wrong, or a 3PL pattern below chance) it is the lower bound. The SE is
then evaluated at the bound: finite, and large, as it should be. :attr:`ScoreResult.at_bound` flags these
persons. Persons with no observed response get the prior (EAP, MAP) or NaN (ML, WLE: nothing to estimate
from).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from item_bank.irt.models import (
    DICHOTOMOUS,
    ItemParameters,
    _log_probabilities,
    category_probabilities,
    check_responses,
    test_information,
)

__all__ = [
    "DEFAULT_N_QUAD",
    "DEFAULT_THETA_BOUNDS",
    "SCORERS",
    "ScoreResult",
    "Scorer",
    "SumScoreTable",
    "eap_scores",
    "eap_sum_scores",
    "empirical_reliability",
    "lord_wingersky",
    "map_scores",
    "marginal_reliability",
    "ml_scores",
    "quadrature",
    "score_responses",
    "sum_score_table",
    "wle_scores",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

DEFAULT_N_QUAD = 61
"""Quadrature points for EAP and sum-score tables (R mirt's default for one dimension)."""
DEFAULT_THETA_BOUNDS = (-6.0, 6.0)
"""Range of modal estimates (see the module docstring)."""
_GRID_HALF_WIDTH = 6.0  # quadrature nodes span prior_mean +- 6 prior SDs
_EAP_BLOCK = 16384  # persons per block of EAP GEMMs: bounds the indicator matrices (26 MB at J = 200)
_MODAL_BLOCK = 4096  # persons per block of Fisher-scoring iterations: bounds the (n, J, K) arrays
_TINY = 1e-300


@dataclass(frozen=True)
class ScoreResult:
    """Theta estimates of N persons.

    Attributes
    ----------
    theta : ndarray, shape (N,)
    se : ndarray, shape (N,)
    method : str
        Key in :data:`SCORERS`, or ``"eapsum"`` (:func:`eap_sum_scores`).
    at_bound : ndarray of bool, shape (N,)
        Modal estimates held at ``theta_bounds`` (always False for EAP).
    """

    theta: FloatArray
    se: FloatArray
    method: str
    at_bound: BoolArray


class Scorer(Protocol):
    """Signature shared by the entries of :data:`SCORERS`."""

    def __call__(
        self,
        params: ItemParameters,
        responses: ArrayLike,
        *,
        prior_mean: float = ...,
        prior_sd: float = ...,
        n_quad: int = ...,
        theta_bounds: tuple[float, float] = ...,
    ) -> ScoreResult: ...


def quadrature(
    n_quad: int = DEFAULT_N_QUAD, prior_mean: float = 0.0, prior_sd: float = 1.0
) -> tuple[FloatArray, FloatArray]:
    """Rectangular quadrature of N(prior_mean, prior_sd^2).

    Returns
    -------
    nodes : ndarray, shape (Q,)
        ``prior_mean + prior_sd * linspace(-6, 6, Q)``.
    weights : ndarray, shape (Q,)
        Normal density at the nodes, normalised to sum to 1.
    """
    _check_prior(prior_mean, prior_sd)
    if n_quad < 3:
        raise ValueError(f"n_quad must be at least 3, got {n_quad}")
    z = np.linspace(-_GRID_HALF_WIDTH, _GRID_HALF_WIDTH, n_quad)
    weights = np.exp(-0.5 * z * z)
    return prior_mean + prior_sd * z, weights / weights.sum()


def _check_prior(prior_mean: float, prior_sd: float) -> None:
    if not np.isfinite(prior_mean):
        raise ValueError(f"prior_mean must be finite, got {prior_mean!r}")
    if not (np.isfinite(prior_sd) and prior_sd > 0):
        raise ValueError(f"prior_sd must be positive and finite, got {prior_sd!r}")


def _check_bounds(theta_bounds: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(theta_bounds[0]), float(theta_bounds[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"theta_bounds must be two finite numbers, low < high, got {theta_bounds!r}")
    return lo, hi


def _responses(params: ItemParameters, responses: ArrayLike) -> IntArray:
    """Validated responses (N, J) as int64.

    A valid integer matrix passes with two reductions (min, column max); anything else goes through
    :func:`~item_bank.irt.models.check_responses`, which converts it or raises its error naming the item.
    """
    x = np.asarray(responses)
    if (
        x.ndim == 2
        and x.shape[1] == params.n_items
        and x.dtype.kind == "i"
        and x.size
        and x.min() >= -1
        and np.all(x.max(axis=0) < params.n_categories)
    ):
        return x.astype(np.int64, copy=False)
    return check_responses(params, x)


# ---------------------------------------------------------------------------------------------------------
# EAP
# ---------------------------------------------------------------------------------------------------------


def _log_likelihood_tables(params: ItemParameters, nodes: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
    """GEMM operands: ``base = logP_0^T`` (J, Q) and ``diffs[k-1] = (logP_k - logP_0)^T`` (J, Q)."""
    logp = _log_probabilities(params, nodes)  # (Q, J, K); -inf beyond each item's categories
    logp = np.where(np.isfinite(logp), logp, 0.0)  # padded categories never match a response
    base = np.ascontiguousarray(logp[:, :, 0].T)
    diffs = [np.ascontiguousarray((logp[:, :, k] - logp[:, :, 0]).T) for k in range(1, logp.shape[2])]
    return base, diffs


def _posterior_moments(
    log_post: FloatArray, nodes: FloatArray, centre: float
) -> tuple[FloatArray, FloatArray]:
    """Mean and SD of each row's posterior ``exp(log_post)`` over the nodes (rows modified in place)."""
    log_post -= log_post.max(axis=1, keepdims=True)
    np.exp(log_post, out=log_post)
    total = log_post.sum(axis=1)
    shifted = nodes - centre  # centring keeps E[t^2] - E[t]^2 free of cancellation far from 0
    mean = log_post @ shifted / total
    var = log_post @ (shifted * shifted) / total - mean * mean
    return mean + centre, np.sqrt(np.maximum(var, 0.0))


def eap_scores(
    params: ItemParameters,
    responses: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
    theta_bounds: tuple[float, float] = DEFAULT_THETA_BOUNDS,
) -> ScoreResult:
    """Expected a posteriori estimates (posterior mean) and posterior SDs.

    ``theta_n = sum_q t_q L_n(t_q) w_q / sum_q L_n(t_q) w_q`` with ``L_n`` the likelihood of person n's
    observed responses and ``(t_q, w_q)`` from :func:`quadrature`; ``se_n`` is the posterior SD.
    ``theta_bounds`` is accepted for a common signature and ignored (the grid bounds EAP).

    Parameters
    ----------
    params : ItemParameters
        J items.
    responses : array_like of int, shape (N, J)
        -1 = not presented.

    Returns
    -------
    ScoreResult
    """
    x = _responses(params, responses)
    nodes, weights = quadrature(n_quad, prior_mean, prior_sd)
    log_w = np.log(weights)
    base, diffs = _log_likelihood_tables(params, nodes)
    theta = np.empty(x.shape[0])
    se = np.empty(x.shape[0])
    for start in range(0, x.shape[0], _EAP_BLOCK):
        xb = x[start : start + _EAP_BLOCK]
        observed = xb >= 0
        if observed.all():
            log_post = np.broadcast_to(base.sum(axis=0) + log_w, (xb.shape[0], nodes.shape[0])).copy()
        else:
            log_post = observed.astype(np.float64) @ base
            log_post += log_w
        for k, diff in enumerate(diffs, start=1):
            log_post += (xb == k).astype(np.float64) @ diff
        theta[start : start + _EAP_BLOCK], se[start : start + _EAP_BLOCK] = _posterior_moments(
            log_post, nodes, prior_mean
        )
    return ScoreResult(theta=theta, se=se, method="eap", at_bound=np.zeros(x.shape[0], dtype=bool))


# ---------------------------------------------------------------------------------------------------------
# Modal estimators: ML, MAP, WLE
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemGroup:
    """Items of one response function and one number of categories, with their columns in the test."""

    family: str  # "dich", "grm" or "gpcm" (pcm is a gpcm with a = 1)
    n_categories: int
    columns: IntArray
    params: ItemParameters


def _item_groups(params: ItemParameters) -> list[_ItemGroup]:
    keys: dict[tuple[str, int], list[int]] = {}
    ncat = params.n_categories
    for j, model in enumerate(params.model):
        family = "dich" if model in DICHOTOMOUS else ("grm" if model == "grm" else "gpcm")
        keys.setdefault((family, int(ncat[j])), []).append(j)
    return [
        _ItemGroup(family, k, np.asarray(cols, dtype=np.int64), params.subset(cols))
        for (family, k), cols in keys.items()
    ]


def _group_derivatives(group: _ItemGroup, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """P, dP/dtheta and d2P/dtheta2 of every category of the group's items, each (N, J', K), from P alone.

    Dichotomous (c = 0 except 3pl), with ``psi = (P1 - c) / (1 - c)`` the logistic part:
    ``P1' = a (1 - c) psi (1 - psi)``, ``P1'' = a P1' (1 - 2 psi)``, ``P0' = -P1'``.
    grm, with cumulative ``P*_k = sum_{m >= k} P_m``: ``P*_k' = a P*_k (1 - P*_k)``,
    ``P*_k'' = a P*_k' (1 - 2 P*_k)``, ``P_k = P*_k - P*_{k+1}`` (and the same for the derivatives).
    gpcm/pcm, with ``E = sum_m m P_m`` and ``V = sum_m (m - E)^2 P_m``: ``P_k' = a P_k (k - E)``,
    ``P_k'' = a^2 P_k ((k - E)^2 - V)``.
    """
    p = category_probabilities(group.params, theta)
    a = group.params.a[None, :, None]
    if group.family == "dich":
        c = group.params.c[None, :]
        psi = (p[:, :, 1] - c) / (1.0 - c)
        one_minus_psi = p[:, :, 0] / (1.0 - c)
        first = a[:, :, 0] * (1.0 - c) * psi * one_minus_psi
        second = a[:, :, 0] * first * (one_minus_psi - psi)
        return p, np.stack([-first, first], axis=2), np.stack([-second, second], axis=2)
    if group.family == "grm":
        upper = np.cumsum(p[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]  # P*_k, k = 1..K-1
        lower = np.cumsum(p, axis=2)[:, :, :-1]  # 1 - P*_k, summed from below for precision
        w1 = a * upper * lower
        w2 = a * w1 * (lower - upper)
        zero = np.zeros((*w1.shape[:2], 1))
        d1 = np.concatenate([zero, w1], axis=2) - np.concatenate([w1, zero], axis=2)
        d2 = np.concatenate([zero, w2], axis=2) - np.concatenate([w2, zero], axis=2)
        return p, d1, d2
    steps = np.arange(group.n_categories, dtype=np.float64)
    dev = steps[None, None, :] - (p @ steps)[:, :, None]
    var = np.sum(p * dev * dev, axis=2, keepdims=True)
    return p, a * p * dev, a * a * p * (dev * dev - var)


def _score_terms(
    groups: list[_ItemGroup], theta: FloatArray, x: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Score S, Fisher information I, Warm's J and observed information H of each person, each shape (n,).

    ``S = sum_j P'_{jx} / P_{jx}``, ``I = sum_j sum_k P'_jk^2 / P_jk``,
    ``J = sum_j sum_k P'_jk P''_jk / P_jk`` and
    ``H = -dS/dtheta = sum_j (P'_{jx} / P_{jx})^2 - P''_{jx} / P_{jx}``,
    summed over the items the person answered (x = the person's category).
    """
    score = np.zeros(theta.shape[0])
    info = np.zeros(theta.shape[0])
    warm = np.zeros(theta.shape[0])
    observed_info = np.zeros(theta.shape[0])
    for group in groups:
        xg = x[:, group.columns]
        observed = xg >= 0
        if group.family == "dich":
            # Hot path of ML/MAP/WLE on legal-knowledge tests: the formulas of _group_derivatives on (n, J')
            # arrays, with psi the logistic part of P1 (models.py's dichotomous response function).
            a, b, c = group.params.a, group.params.b[:, 0], group.params.c
            psi = expit(a * (theta[:, None] - b))
            if not np.any(c):
                # Without guessing P1 = psi: S = sum a (x - psi), H = I = sum a^2 psi (1 - psi) and
                # J = sum a^3 psi (1 - psi) (1 - 2 psi), as matrix-vector products.
                variance = np.where(observed, psi * (1.0 - psi), 0.0)
                score += np.where(observed, xg - psi, 0.0) @ a
                info_j = variance @ (a * a)
                info += info_j
                observed_info += info_j
                warm += (variance * (1.0 - 2.0 * psi)) @ (a * a * a)
                continue
            p1 = np.maximum(c + (1.0 - c) * psi, _TINY)
            p0 = np.maximum((1.0 - c) * (1.0 - psi), _TINY)
            d1 = a * (1.0 - c) * psi * (1.0 - psi)
            d2 = a * d1 * (1.0 - 2.0 * psi)
            right = xg == 1
            ratio = np.where(right, d1 / p1, -d1 / p0)  # P'_x / P_x
            curvature = np.where(right, d2 / p1, -d2 / p0)  # P''_x / P_x
            both = 1.0 / p1 + 1.0 / p0
            score += np.where(observed, ratio, 0.0).sum(axis=1)
            observed_info += np.where(observed, ratio * ratio - curvature, 0.0).sum(axis=1)
            info += np.where(observed, d1 * d1 * both, 0.0).sum(axis=1)
            warm += np.where(observed, d1 * d2 * both, 0.0).sum(axis=1)
            continue
        p, d1_all, d2_all = _group_derivatives(group, theta)
        xi = np.where(observed, xg, 0)[:, :, None]
        px = np.maximum(np.take_along_axis(p, xi, axis=2)[:, :, 0], _TINY)
        ratio = np.take_along_axis(d1_all, xi, axis=2)[:, :, 0] / px
        curvature = np.take_along_axis(d2_all, xi, axis=2)[:, :, 0] / px
        inv_p = np.where(p > 0, 1.0 / np.maximum(p, _TINY), 0.0)
        score += np.where(observed, ratio, 0.0).sum(axis=1)
        observed_info += np.where(observed, ratio * ratio - curvature, 0.0).sum(axis=1)
        info += np.where(observed, np.sum(d1_all * d1_all * inv_p, axis=2), 0.0).sum(axis=1)
        warm += np.where(observed, np.sum(d1_all * d2_all * inv_p, axis=2), 0.0).sum(axis=1)
    return score, info, warm, observed_info


@dataclass(frozen=True)
class _Equation:
    """Estimating equation ``f(theta) = 0`` of a modal method and the positive slope ``-f'`` of its steps.

    The slope is the observed information H (Newton: quadratic convergence also for the 3PL, GRM and GPCM,
    where H differs from I) where H > 0, else the Fisher information I (Fisher scoring, always positive).
    """

    value: Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray]  # (theta, S, I, J) -> f
    prior_precision: float = 0.0

    def slope(self, info: FloatArray, observed_info: FloatArray) -> FloatArray:
        return np.where(observed_info > 0, observed_info, info) + self.prior_precision


def _solve_modal(
    groups: list[_ItemGroup],
    x: IntArray,
    equation: _Equation,
    start: FloatArray,
    bounds: tuple[float, float],
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> tuple[FloatArray, BoolArray]:
    """Root of the estimating equation per person, inside ``bounds``; returns (theta, at_bound).

    Each person keeps a bracket [lo, hi] with ``f(lo) > 0 > f(hi)`` once both ends have been evaluated. A
    Newton step that leaves the bracket probes the bound on that side if it has not been evaluated yet (so an
    extreme pattern reaches its bound in one step), and bisects otherwise. A person whose equation still
    points outward at a bound stays there.
    """
    lo_bound, hi_bound = bounds
    n = x.shape[0]
    theta = np.clip(start, lo_bound, hi_bound).astype(np.float64)
    at_bound = np.zeros(n, dtype=bool)
    lo = np.full(n, lo_bound)
    hi = np.full(n, hi_bound)
    lo_known = np.zeros(n, dtype=bool)
    hi_known = np.zeros(n, dtype=bool)
    active = np.arange(n)
    for _ in range(max_iter):
        if active.size == 0:
            break
        still: list[IntArray] = []
        for first in range(0, active.size, _MODAL_BLOCK):
            rows = active[first : first + _MODAL_BLOCK]
            t = theta[rows]
            s, i, w, h = _score_terms(groups, t, x[rows])
            f = equation.value(t, s, i, w)
            rising, falling = f > 0, f < 0
            lo[rows] = np.where(rising, t, lo[rows])
            hi[rows] = np.where(falling, t, hi[rows])
            lo_known[rows] |= rising
            hi_known[rows] |= falling
            stuck = (rising & (t >= hi_bound)) | (falling & (t <= lo_bound))
            step = f / equation.slope(i, h)
            candidate = t + step
            converged = (np.abs(step) < tol) | (f == 0)
            probe_hi = (candidate >= hi[rows]) & ~hi_known[rows]
            probe_lo = (candidate <= lo[rows]) & ~lo_known[rows]
            inside = (candidate > lo[rows]) & (candidate < hi[rows])
            candidate = np.where(inside | converged, candidate, 0.5 * (lo[rows] + hi[rows]))
            candidate = np.where(probe_hi, hi_bound, np.where(probe_lo, lo_bound, candidate))
            theta[rows] = np.where(stuck, t, np.clip(candidate, lo_bound, hi_bound))
            at_bound[rows] = stuck
            done = stuck | converged | (hi[rows] - lo[rows] < tol)
            still.append(rows[~done])
        active = np.concatenate(still)
    return theta, at_bound


def _modal_scores(
    params: ItemParameters,
    responses: ArrayLike,
    equation: _Equation,
    *,
    prior_mean: float,
    prior_sd: float,
    n_quad: int,
    theta_bounds: tuple[float, float],
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """(theta, information of the person's items at theta, at_bound, answered) for a modal method."""
    x = _responses(params, responses)
    bounds = _check_bounds(theta_bounds)
    groups = _item_groups(params)
    start = eap_scores(params, x, prior_mean=prior_mean, prior_sd=prior_sd, n_quad=n_quad).theta
    answered: BoolArray = np.asarray((x >= 0).any(axis=1), dtype=bool)
    theta = np.full(x.shape[0], np.nan)
    info = np.full(x.shape[0], np.nan)
    at_bound = np.zeros(x.shape[0], dtype=bool)
    rows = np.flatnonzero(answered)
    theta[rows], at_bound[rows] = _solve_modal(groups, x[rows], equation, start[rows], bounds)
    for first in range(0, rows.size, _MODAL_BLOCK):
        block = rows[first : first + _MODAL_BLOCK]
        info[block] = _score_terms(groups, theta[block], x[block])[1]
    return theta, info, at_bound, answered


def ml_scores(
    params: ItemParameters,
    responses: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
    theta_bounds: tuple[float, float] = DEFAULT_THETA_BOUNDS,
) -> ScoreResult:
    """Maximum likelihood estimates: the root of ``S(theta) = 0`` within ``theta_bounds``.

    SE = ``1 / sqrt(I(theta_hat))`` with I the information of the person's observed items. The prior only
    provides the EAP starting value. Extreme patterns are held at a bound (module docstring); persons with no
    response get NaN.
    """
    equation = _Equation(
        value=lambda t, s, i, w: s,
    )
    theta, info, at_bound, _ = _modal_scores(
        params,
        responses,
        equation,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
        n_quad=n_quad,
        theta_bounds=theta_bounds,
    )
    with np.errstate(divide="ignore"):
        se = 1.0 / np.sqrt(info)
    return ScoreResult(theta=theta, se=se, method="ml", at_bound=at_bound)


def map_scores(
    params: ItemParameters,
    responses: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
    theta_bounds: tuple[float, float] = DEFAULT_THETA_BOUNDS,
) -> ScoreResult:
    """Maximum a posteriori estimates under N(prior_mean, prior_sd^2).

    Root of ``S(theta) - (theta - prior_mean) / prior_sd^2``; SE = ``1 / sqrt(I(theta_hat) + 1 / prior_sd^2)``
    (expected information plus prior precision). Persons with no response get the prior mean and SD.
    """
    _check_prior(prior_mean, prior_sd)
    precision = 1.0 / (prior_sd * prior_sd)
    equation = _Equation(
        value=lambda t, s, i, w: s - (t - prior_mean) * precision,
        prior_precision=precision,
    )
    theta, info, at_bound, answered = _modal_scores(
        params,
        responses,
        equation,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
        n_quad=n_quad,
        theta_bounds=theta_bounds,
    )
    theta[~answered] = prior_mean
    info[~answered] = 0.0
    return ScoreResult(theta=theta, se=1.0 / np.sqrt(info + precision), method="map", at_bound=at_bound)


def wle_scores(
    params: ItemParameters,
    responses: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
    theta_bounds: tuple[float, float] = DEFAULT_THETA_BOUNDS,
) -> ScoreResult:
    """Warm's weighted likelihood estimates: the root of ``S + J / (2 I) = 0``.

    Finite for all-correct and all-wrong patterns under the Rasch model and the 2PL (where WLE maximises
    ``L(theta) sqrt(I(theta))``); still bounded by ``theta_bounds``. SE = ``1 / sqrt(I(theta_hat))``.
    Persons with no response get NaN.
    """
    equation = _Equation(
        value=lambda t, s, i, w: s + w / (2.0 * np.maximum(i, _TINY)),
    )
    theta, info, at_bound, _ = _modal_scores(
        params,
        responses,
        equation,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
        n_quad=n_quad,
        theta_bounds=theta_bounds,
    )
    with np.errstate(divide="ignore"):
        se = 1.0 / np.sqrt(info)
    return ScoreResult(theta=theta, se=se, method="wle", at_bound=at_bound)


SCORERS: dict[str, Scorer] = {"eap": eap_scores, "map": map_scores, "ml": ml_scores, "wle": wle_scores}
"""Scoring methods by name; ``"eap"`` is the default everywhere."""


def score_responses(
    params: ItemParameters,
    responses: ArrayLike,
    method: str = "eap",
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
    theta_bounds: tuple[float, float] = DEFAULT_THETA_BOUNDS,
) -> ScoreResult:
    """Score persons with the method named ``method`` (a key of :data:`SCORERS`)."""
    try:
        scorer = SCORERS[method]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(SCORERS)}, got {method!r}") from None
    return scorer(
        params, responses, prior_mean=prior_mean, prior_sd=prior_sd, n_quad=n_quad, theta_bounds=theta_bounds
    )


# ---------------------------------------------------------------------------------------------------------
# Sum scores (Lord-Wingersky) and reliability
# ---------------------------------------------------------------------------------------------------------


def lord_wingersky(probabilities: ArrayLike, n_categories: ArrayLike) -> FloatArray:
    """Distribution of the summed score at each ability by the Lord-Wingersky (1984) recursion.

    Adding item j with categories 0..K_j-1 to a test whose score distribution is ``f(s)``:
    ``f'(s) = sum_k P_jk f(s - k)``. Mixed dichotomous and polytomous items are handled alike.

    Parameters
    ----------
    probabilities : array_like, shape (Q, J, K_max)
        Category probabilities (e.g. from :func:`~item_bank.irt.models.category_probabilities`).
    n_categories : array_like of int, shape (J,)

    Returns
    -------
    ndarray, shape (Q, S + 1)
        ``out[q, s] = P(sum score = s | theta_q)`` with ``S = sum_j (K_j - 1)``; rows sum to 1.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    ncat = np.asarray(n_categories, dtype=np.int64)
    if p.ndim != 3 or p.shape[1] != ncat.shape[0]:
        raise ValueError(
            f"probabilities must have shape (Q, J, K_max) with J = {ncat.shape[0]}, got {p.shape}"
        )
    total = int(np.sum(ncat - 1))
    dist = np.zeros((p.shape[0], total + 1))
    dist[:, 0] = 1.0
    top = 0
    for j in range(ncat.shape[0]):
        k_j = int(ncat[j])
        new = np.zeros((p.shape[0], top + k_j))
        for k in range(k_j):
            new[:, k : k + top + 1] += dist[:, : top + 1] * p[:, j, k, None]
        top += k_j - 1
        dist[:, : top + 1] = new
    return dist


@dataclass(frozen=True)
class SumScoreTable:
    """EAP conversion table from summed score to theta (R mirt's ``fscores(method = "EAPsum")``).

    Attributes
    ----------
    score : ndarray of int, shape (S + 1,)
        0..S with S the maximum possible sum.
    theta : ndarray, shape (S + 1,)
        ``E[theta | sum = s]``.
    se : ndarray, shape (S + 1,)
        Posterior SD.
    probability : ndarray, shape (S + 1,)
        Model-implied proportion of persons with each sum in the prior population.
    """

    score: IntArray
    theta: FloatArray
    se: FloatArray
    probability: FloatArray


def sum_score_table(
    params: ItemParameters, *, prior_mean: float = 0.0, prior_sd: float = 1.0, n_quad: int = DEFAULT_N_QUAD
) -> SumScoreTable:
    """Sum-score to EAP conversion for a complete test form (all J items presented).

    ``theta(s) = sum_q t_q f(s | t_q) w_q / sum_q f(s | t_q) w_q`` with ``f`` from :func:`lord_wingersky`.
    """
    nodes, weights = quadrature(n_quad, prior_mean, prior_sd)
    dist = lord_wingersky(category_probabilities(params, nodes), params.n_categories)  # (Q, S+1)
    joint = dist * weights[:, None]
    marginal = joint.sum(axis=0)
    shifted = nodes - prior_mean
    mean = shifted @ joint / marginal
    var = (shifted * shifted) @ joint / marginal - mean * mean
    return SumScoreTable(
        score=np.arange(dist.shape[1], dtype=np.int64),
        theta=mean + prior_mean,
        se=np.sqrt(np.maximum(var, 0.0)),
        probability=marginal,
    )


def eap_sum_scores(
    params: ItemParameters,
    responses: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
) -> ScoreResult:
    """Score persons through the sum-score table; persons with any item not presented get NaN."""
    x = _responses(params, responses)
    table = sum_score_table(params, prior_mean=prior_mean, prior_sd=prior_sd, n_quad=n_quad)
    complete = (x >= 0).all(axis=1)
    sums = np.where(complete, x.sum(axis=1), 0)
    theta = np.where(complete, table.theta[sums], np.nan)
    se = np.where(complete, table.se[sums], np.nan)
    return ScoreResult(theta=theta, se=se, method="eapsum", at_bound=np.zeros(x.shape[0], dtype=bool))


def marginal_reliability(
    params: ItemParameters, *, prior_mean: float = 0.0, prior_sd: float = 1.0, n_quad: int = DEFAULT_N_QUAD
) -> float:
    """Marginal reliability from the test information (R mirt's ``marginal_rxx``).

    ``rxx = sigma^2 / (sigma^2 + E[1 / I(theta)])`` with the expectation over N(prior_mean, prior_sd^2) by the
    quadrature of :func:`quadrature`.
    """
    nodes, weights = quadrature(n_quad, prior_mean, prior_sd)
    with np.errstate(divide="ignore"):
        error_variance = float(np.sum(weights / test_information(params, nodes)))
    variance = prior_sd * prior_sd
    return variance / (variance + error_variance)


def empirical_reliability(theta: ArrayLike, se: ArrayLike) -> float:
    """Empirical reliability of estimates: ``var(theta_hat) / (var(theta_hat) + mean(se^2))``.

    Persons with a non-finite theta or SE are left out. R mirt's ``empirical_rxx``.
    """
    t = np.asarray(theta, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(s)
    if keep.sum() < 2:
        return float("nan")
    var = float(np.var(t[keep], ddof=1))
    return var / (var + float(np.mean(s[keep] ** 2)))
