"""Classical test theory item statistics: p-values, corrected point-biserials, Cronbach's alpha.

Responses are integer arrays of shape (N, J) with -1 for "not presented". Missing responses are handled
pairwise and never imputed:

* an item's p-value and mean use the persons who answered it;
* the corrected point-biserial of item j correlates the item score with the *rest score* (the sum of the
  person's other observed responses) over the persons who answered item j;
* alpha uses the pairwise-complete covariance matrix C of the item scores (each entry from the persons who
  answered both items), as in ``psych::alpha(use = "pairwise")``:
  ``alpha = J / (J - 1) * (1 - trace(C) / sum(C))``. With complete data this is the textbook formula
  ``J / (J - 1) * (1 - sum_j var_j / var(total))``.

With planned missingness (every person sees a subset of a bank) rest scores of persons who saw different items
are not comparable; use IRT statistics there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ClassicalItemStatistics",
    "alpha_if_deleted",
    "cronbach_alpha",
    "item_statistics",
    "p_values",
    "pairwise_correlation",
    "pairwise_covariance",
    "point_biserial",
]

FloatArray = NDArray[np.float64]


def _as_responses(responses: ArrayLike) -> NDArray[np.int64]:
    x = np.asarray(responses)
    if x.ndim != 2:
        raise ValueError(f"responses must be a 2-D array (persons, items), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"responses must be integers (-1 = not presented), got dtype {x.dtype}")
    if x.size and x.min() < -1:
        raise ValueError(f"responses must be -1 (not presented) or a category >= 0, got {int(x.min())}")
    return x.astype(np.int64, copy=False)


def _scores_and_mask(responses: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = _as_responses(responses)
    observed = (x >= 0).astype(np.float64)
    return np.where(x >= 0, x, 0).astype(np.float64), observed


def pairwise_covariance(values: ArrayLike, observed: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Pairwise-complete covariance matrix of the columns of ``values``.

    Parameters
    ----------
    values : array, shape (N, J)
        Values; entries where ``observed`` is 0 are ignored (they may hold anything finite).
    observed : array of 0/1, shape (N, J)

    Returns
    -------
    cov : ndarray, shape (J, J)
        ``cov[j, k] = (sum x_j x_k - sum x_j sum x_k / n_jk) / (n_jk - 1)`` over the n_jk persons observing
        both; NaN where ``n_jk < 2``.
    n : ndarray, shape (J, J)
        n_jk.

    Notes
    -----
    Four (J x N)(N x J) products, so the cost is that of one covariance matrix, whatever the missingness.
    """
    m = np.asarray(observed, dtype=np.float64)
    x = np.where(m > 0, np.asarray(values, dtype=np.float64), 0.0)
    n = m.T @ m
    cross = x.T @ x
    sum_jk = x.T @ m  # sum of x_j over persons observing both j and k, indexed [j, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (cross - sum_jk * sum_jk.T / n) / (n - 1.0)
    cov[n < 2] = np.nan
    return cov, n


def pairwise_correlation(values: ArrayLike, observed: ArrayLike) -> FloatArray:
    """Pairwise-complete Pearson correlation matrix of the columns of ``values``.

    Each entry uses the persons observing both columns for the covariance *and* both variances, so it lies in
    [-1, 1]. NaN where fewer than two persons observe both or a column is constant among them. Shape (J, J).
    """
    m = np.asarray(observed, dtype=np.float64)
    x = np.where(m > 0, np.asarray(values, dtype=np.float64), 0.0)
    cov, n = pairwise_covariance(x, m)
    sums = x.T @ m  # [j, k]: sum of x_j over persons observing j and k
    squares = (x * x).T @ m
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (squares - sums * sums / n) / (n - 1.0)  # [j, k]: variance of x_j among persons observing k too
        corr = cov / np.sqrt(var * var.T)
    corr[~np.isfinite(corr)] = np.nan
    return np.asarray(np.clip(corr, -1.0, 1.0), dtype=np.float64)


def p_values(responses: ArrayLike, max_scores: ArrayLike | None = None) -> FloatArray:
    """Item p-values: mean item score divided by the maximum score.

    Parameters
    ----------
    responses : array of int, shape (N, J), -1 = not presented
    max_scores : array of int, shape (J,), optional
        K_j - 1 per item. By default the highest category observed in the data (a category nobody reached is
        then not counted; pass the known maxima, e.g. ``n_categories - 1`` from the parameters, to avoid
        that).

    Returns
    -------
    ndarray, shape (J,)
        For dichotomous items the proportion correct among the persons who answered; NaN if nobody did.
    """
    x, m = _scores_and_mask(responses)
    top = _max_scores(x, max_scores)
    n = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(x.sum(axis=0) / n / top, dtype=np.float64)


def _max_scores(x: FloatArray, max_scores: ArrayLike | None) -> FloatArray:
    if max_scores is None:
        top = x.max(axis=0, initial=0.0)
    else:
        top = np.asarray(max_scores, dtype=np.float64)
        if top.shape != (x.shape[1],):
            raise ValueError(f"max_scores must have shape ({x.shape[1]},), got {top.shape}")
    return np.where(top > 0, top, np.nan)


def point_biserial(responses: ArrayLike) -> FloatArray:
    """Corrected point-biserial (item-rest) correlations.

    ``r_j = corr(x_j, R_j)`` over the persons who answered item j, where ``R_j = sum_{k != j observed} x_k``
    is the rest score. Correcting for the item's own contribution keeps short tests from inflating the value.

    Returns
    -------
    ndarray, shape (J,)
        NaN where the item or its rest score has no variance among its respondents.
    """
    x, m = _scores_and_mask(responses)
    rest = x.sum(axis=1, keepdims=True) - x
    n = m.sum(axis=0)
    sx = x.sum(axis=0)
    sr = (m * rest).sum(axis=0)
    sxx = (x * x).sum(axis=0)
    srr = (m * rest * rest).sum(axis=0)
    sxr = (x * rest).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxr - sx * sr / n
        var_x = sxx - sx * sx / n
        var_r = srr - sr * sr / n
        r = cov / np.sqrt(var_x * var_r)
    r[(var_x <= 0) | (var_r <= 0)] = np.nan
    return np.asarray(r, dtype=np.float64)


def _alpha_from_covariance(cov: FloatArray) -> float:
    j = cov.shape[0]
    if j < 2:
        return float("nan")
    total = float(np.sum(cov))
    if not np.isfinite(total) or total <= 0:
        return float("nan")
    return float(j / (j - 1.0) * (1.0 - float(np.trace(cov)) / total))


def cronbach_alpha(responses: ArrayLike) -> float:
    """Cronbach's alpha, ``J / (J - 1) * (1 - trace(C) / sum(C))`` with C the pairwise item covariance matrix.

    Returns NaN for fewer than two items, or when some pair of items was never answered together.
    """
    x, m = _scores_and_mask(responses)
    cov, _ = pairwise_covariance(x, m)
    return _alpha_from_covariance(cov)


def alpha_if_deleted(responses: ArrayLike) -> FloatArray:
    """Alpha of the test without item j, for each j (shape (J,))."""
    x, m = _scores_and_mask(responses)
    cov, _ = pairwise_covariance(x, m)
    keep = ~np.eye(cov.shape[0], dtype=bool)
    return np.array([_alpha_from_covariance(cov[np.ix_(keep[j], keep[j])]) for j in range(cov.shape[0])])


@dataclass(frozen=True)
class ClassicalItemStatistics:
    """Classical item analysis of one test.

    Attributes
    ----------
    item_ids : tuple of str, length J
    n : ndarray of int, shape (J,)
        Persons who answered each item.
    mean : ndarray, shape (J,)
        Mean item score among them.
    p_value : ndarray, shape (J,)
        ``mean / max_score``.
    point_biserial : ndarray, shape (J,)
        Corrected item-rest correlation.
    alpha_if_deleted : ndarray, shape (J,)
    alpha : float
        Cronbach's alpha of all J items.
    """

    item_ids: tuple[str, ...]
    n: NDArray[np.int64]
    mean: FloatArray
    p_value: FloatArray
    point_biserial: FloatArray
    alpha_if_deleted: FloatArray
    alpha: float


def item_statistics(
    responses: ArrayLike, *, item_ids: Sequence[str] | None = None, max_scores: ArrayLike | None = None
) -> ClassicalItemStatistics:
    """All classical item statistics in one call (see the module docstring for missing data)."""
    x, m = _scores_and_mask(responses)
    n_items = x.shape[1]
    ids = tuple(item_ids) if item_ids is not None else tuple(str(j + 1) for j in range(n_items))
    if len(ids) != n_items:
        raise ValueError(f"{len(ids)} item ids for {n_items} response columns")
    n = m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=0) / n
    cov, _ = pairwise_covariance(x, m)
    keep = ~np.eye(n_items, dtype=bool)
    return ClassicalItemStatistics(
        item_ids=ids,
        n=n.astype(np.int64),
        mean=mean,
        p_value=mean / _max_scores(x, max_scores),
        point_biserial=point_biserial(responses),
        alpha_if_deleted=np.array(
            [_alpha_from_covariance(cov[np.ix_(keep[j], keep[j])]) for j in range(n_items)]
        ),
        alpha=_alpha_from_covariance(cov),
    )
