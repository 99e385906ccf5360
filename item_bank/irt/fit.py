"""Item fit: Orlando-Thissen S-X2, infit/outfit mean squares, and Yen's Q3 for local dependence.

S-X2 (Orlando & Thissen, 2000; Kang & Chen, 2007 for polytomous items)
    Persons are grouped by their summed score s. For item j the observed count ``O_jsk`` of persons with sum s
    in category k is compared with the model's expectation
    ``E_jsk = N_s * sum_q w_q P_jk(t_q) f_-j(s - k | t_q) / sum_q w_q f(s | t_q)``, where f and f_-j are the
    Lord-Wingersky sum-score distributions of the whole test and of the test without item j, and (t_q, w_q)
    the N(prior_mean, prior_sd^2) quadrature of :mod:`item_bank.irt.scoring`.
    ``S-X2_j = sum_s sum_k (O - E)^2 / E`` with ``df = cells - groups - parameters of item j``.
    As in R mirt's ``itemfit``: the extreme sums 0 and S are left out; then, for polytomous items, within each
    score group with an expected count below ``mincell`` (default 1) the smallest category is merged into its
    smaller neighbour until every cell reaches ``mincell`` or two remain; then score groups with a cell below
    ``mincell`` are merged with a neighbour (the first group into the next, the last into the previous, others
    into the neighbour with fewer observed persons). mirt's further rules for rare top categories are not
    applied. Parameters per item: rasch 1, 1pl 1 (the common slope is not charged to any one item; mirt
    charges it to each), 2pl 2, 3pl 3, grm and gpcm K, pcm K-1; pass ``n_estimated`` for other counts (e.g. 0
    for items whose parameters were fixed at bank values).
    Missing data: sum scores need a fixed set of items, so persons are grouped into forms by the items they
    were presented and the statistic is pooled over forms with enough persons (see :func:`s_x2`); R mirt
    refuses data with missing values instead. :attr:`SX2Result.n_persons` reports how many persons were used.

Infit and outfit (Wright & Masters, 1982)
    With ``E_nj`` and ``W_nj`` the model mean and variance of person n's score on item j at ``theta_n`` and
    ``C_nj`` its fourth central moment: outfit = mean of ``(x - E)^2 / W``; infit = ``sum (x - E)^2 / sum W``;
    standardized with the Wilson-Hilferty cube root ``t = (MS^(1/3) - 1) (3 / q) + q / 3`` where
    ``q_out^2 = sum (C / W^2) / n^2 - 1 / n`` and ``q_in^2 = sum (C - W^2) / (sum W)^2``, q capped at sqrt(2)
    as in mirt. Sums run over the persons who answered the item (missing data allowed). Theta defaults to ML
    estimates without the persons at a bound (extreme scores), as in eRm and Winsteps; R mirt's default is
    EAP, which pulls the mean squares below 1 (about 0.9 on a 25-item Rasch test): pass EAP thetas to
    reproduce mirt.

Q3 (Yen, 1984)
    Correlations across persons of the residuals ``x_nj - E_nj(theta_n)`` (EAP theta by default), pairwise
    over persons who answered both items. Under local independence Q3 is about ``-1/(J - 1)``;
    :func:`local_dependence` lists pairs above a threshold (0.2, Chen & Thissen, 1997), optionally relative to
    the mean Q3 (Christensen, Makransky & Horton, 2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from item_bank.irt.classical import pairwise_correlation
from item_bank.irt.models import ItemParameters, category_probabilities, check_responses
from item_bank.irt.scoring import DEFAULT_N_QUAD, eap_scores, lord_wingersky, ml_scores, quadrature

__all__ = [
    "INFIT_Q_CAP",
    "RaschFit",
    "SX2Result",
    "estimated_parameters",
    "local_dependence",
    "q3",
    "rasch_fit",
    "s_x2",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

INFIT_Q_CAP = float(np.sqrt(2.0))
"""Upper limit of the standard deviation q of a mean square in its t transformation (mirt's 1.4142)."""


def estimated_parameters(params: ItemParameters) -> IntArray:
    """Parameters each item contributes to the model, shape (J,) (see the module docstring)."""
    counts = {"rasch": 1, "1pl": 1, "2pl": 2, "3pl": 3}
    ncat = params.n_categories
    out = []
    for j, model in enumerate(params.model):
        if model in counts:
            out.append(counts[model])
        elif model == "pcm":
            out.append(int(ncat[j]) - 1)
        else:
            out.append(int(ncat[j]))
    return np.array(out, dtype=np.int64)


@dataclass(frozen=True)
class SX2Result:
    """S-X2 item fit.

    Attributes
    ----------
    item_ids : tuple of str, length J
    statistic : ndarray, shape (J,)
        S-X2; NaN where the df after collapsing is 0.
    df : ndarray of int, shape (J,)
    p : ndarray, shape (J,)
    n_persons : int
        Persons used (members of forms with at least ``min_form_size`` persons).
    observed, expected : tuple of ndarray
        Per item, the collapsed tables (groups x cells) of counts; NaN marks merged-away cells.
    """

    item_ids: tuple[str, ...]
    statistic: FloatArray
    df: IntArray
    p: FloatArray
    n_persons: int
    observed: tuple[FloatArray, ...]
    expected: tuple[FloatArray, ...]


def _merge_within_rows(
    observed: FloatArray, expected: FloatArray, mincell: float
) -> tuple[FloatArray, FloatArray]:
    """Polytomous step: in each score group with a sparse cell, merge adjacent categories (NaN-padded)."""
    o_out = np.full_like(observed, np.nan)
    e_out = np.full_like(expected, np.nan)
    for s in range(expected.shape[0]):
        o, e = list(observed[s]), list(expected[s])
        if min(e) < mincell:
            while len(e) > 2 and min(e) < mincell:
                smallest = len(e) - 1 - int(np.argmin(e[::-1]))  # the last of tied minima, as mirt
                if smallest == 0:
                    target = 1
                elif smallest == len(e) - 1:
                    target = smallest - 1
                else:
                    target = smallest - 1 if e[smallest - 1] <= e[smallest + 1] else smallest + 1
                e[target] += e[smallest]
                o[target] += o[smallest]
                del e[smallest], o[smallest]
        o_out[s, : len(o)] = o
        e_out[s, : len(e)] = e
    return o_out, e_out


def _merge_rows(observed: FloatArray, expected: FloatArray, mincell: float) -> tuple[FloatArray, FloatArray]:
    """Merge score groups until no expected cell is below ``mincell``; merged-away cells become NaN."""
    o = np.nan_to_num(observed)
    e = np.nan_to_num(expected)
    while o.shape[0] > 1:
        sparse = ((e < mincell) & (e != 0)).any(axis=1)
        if not sparse.any():
            break
        row = int(np.argmax(sparse))
        if row == 0:
            target = 1
        elif row == o.shape[0] - 1:
            target = row - 1
        else:
            target = row - 1 if o[row - 1].sum() <= o[row + 1].sum() else row + 1
        o[target] += o[row]
        e[target] += e[row]
        o = np.delete(o, row, axis=0)
        e = np.delete(e, row, axis=0)
    e[e == 0] = np.nan
    return o, e


def _form_tables(
    probs: FloatArray, ncat: IntArray, weights: FloatArray, x: IntArray, mincell: float
) -> list[tuple[FloatArray, FloatArray]]:
    """Collapsed observed and expected count tables of every item of one form (all items answered)."""
    marginal = weights @ lord_wingersky(probs, ncat)  # (S + 1,)
    top = marginal.shape[0] - 1
    sums = x.sum(axis=1)
    n_s = np.bincount(sums, minlength=top + 1).astype(np.float64)
    tables = []
    everyone_else = np.ones(ncat.shape[0], dtype=bool)
    for j in range(ncat.shape[0]):
        k_j = int(ncat[j])
        everyone_else[:] = True
        everyone_else[j] = False
        rest = lord_wingersky(probs[:, everyone_else, :], ncat[everyone_else])  # (Q, S - K_j + 2)
        expected = np.zeros((top + 1, k_j))
        for k in range(k_j):
            expected[k : k + rest.shape[1], k] = (weights * probs[:, j, k]) @ rest
        with np.errstate(invalid="ignore", divide="ignore"):
            expected = expected / marginal[:, None] * n_s[:, None]
        observed = np.zeros((top + 1, k_j))
        np.add.at(observed, (sums, x[:, j]), 1.0)
        observed, expected = observed[1:top], expected[1:top]  # sums 0 and S say nothing about fit
        if k_j > 2:
            observed, expected = _merge_within_rows(observed, expected, mincell)
        tables.append(_merge_rows(observed, expected, mincell))
    return tables


def s_x2(
    params: ItemParameters,
    responses: ArrayLike,
    *,
    prior_mean: float = 0.0,
    prior_sd: float = 1.0,
    n_quad: int = DEFAULT_N_QUAD,
    mincell: float = 1.0,
    n_estimated: ArrayLike | None = None,
    min_form_size: int = 100,
) -> SX2Result:
    """Orlando-Thissen S-X2 for every item (see the module docstring for the rules).

    Persons are grouped into forms by the set of items presented to them (one form for complete data). Each
    form with at least ``min_form_size`` persons gets its own sum-score tables over its own items; an item's
    chi-squares and cell counts are added over the forms it appears in (independent groups of persons) and its
    parameters are charged once: ``df = sum_forms (cells - groups) - parameters``. Booklet designs are thereby
    tested form by form; persons with an individual pattern of missing responses (random omissions, adaptive
    tests) fall in small forms and are left out.

    Parameters
    ----------
    params : ItemParameters
        J items, calibrated on (or linked to) the population N(prior_mean, prior_sd^2).
    responses : array_like of int, shape (N, J)
        -1 = not presented.
    mincell : float
        Minimum expected count per cell.
    n_estimated : array_like of int, shape (J,), optional
        Parameters charged to each item; default :func:`estimated_parameters`.
    min_form_size : int
        Smallest number of persons sharing one set of presented items for their form to be used.

    Returns
    -------
    SX2Result
        ``observed`` and ``expected`` stack the collapsed tables of an item's forms.

    Raises
    ------
    ValueError
        If no form has ``min_form_size`` persons with two or more items.
    """
    x = check_responses(params, responses)
    n_par = estimated_parameters(params) if n_estimated is None else np.asarray(n_estimated, dtype=np.int64)
    if n_par.shape != (params.n_items,):
        raise ValueError(f"n_estimated must have shape ({params.n_items},), got {n_par.shape}")
    nodes, weights = quadrature(n_quad, prior_mean, prior_sd)
    probs = category_probabilities(params, nodes)  # (Q, J, K)
    ncat = params.n_categories
    forms, form_of = np.unique(x >= 0, axis=0, return_inverse=True)
    form_of = form_of.reshape(-1)
    chi2 = np.zeros(params.n_items)
    free_cells = np.zeros(params.n_items, dtype=np.int64)
    observed_tables: list[list[FloatArray]] = [[] for _ in range(params.n_items)]
    expected_tables: list[list[FloatArray]] = [[] for _ in range(params.n_items)]
    n_persons = 0
    for f, presented in enumerate(forms):
        members = form_of == f
        items = np.flatnonzero(presented)
        if members.sum() < min_form_size or items.size < 2:
            continue
        n_persons += int(members.sum())
        tables = _form_tables(probs[:, items, :], ncat[items], weights, x[np.ix_(members, items)], mincell)
        for j, (observed, expected) in zip(items, tables, strict=True):
            cells = np.isfinite(expected)
            chi2[j] += float(np.sum(((observed - expected) ** 2 / expected)[cells]))
            free_cells[j] += int(cells.sum()) - expected.shape[0]
            observed_tables[j].append(observed)
            expected_tables[j].append(expected)
    if n_persons == 0:
        raise ValueError(
            f"S-X2 needs at least {min_form_size} persons who were presented the same items (a form); "
            "no set of presented items is that common"
        )
    df = np.maximum(free_cells - n_par, 0)
    statistic = np.where(df > 0, chi2, np.nan)
    p = np.where(df > 0, stats.chi2.sf(chi2, np.maximum(df, 1)), np.nan)

    def stack(parts: list[FloatArray], k: int) -> FloatArray:
        return np.vstack(parts) if parts else np.empty((0, k))

    return SX2Result(
        item_ids=params.item_ids,
        statistic=statistic,
        df=df,
        p=p,
        n_persons=n_persons,
        observed=tuple(stack(t, int(k)) for t, k in zip(observed_tables, ncat, strict=True)),
        expected=tuple(stack(t, int(k)) for t, k in zip(expected_tables, ncat, strict=True)),
    )


def _moments(params: ItemParameters, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean E, variance W and fourth central moment C of each item score at each theta, shape (N, J)."""
    p = category_probabilities(params, theta)
    scores = np.arange(p.shape[2], dtype=np.float64)
    mean = p @ scores
    dev = scores[None, None, :] - mean[:, :, None]
    dev2 = dev * dev
    return mean, np.sum(p * dev2, axis=2), np.sum(p * dev2 * dev2, axis=2)


def _theta_or_eap(params: ItemParameters, x: IntArray, theta: ArrayLike | None) -> FloatArray:
    if theta is None:
        return eap_scores(params, x).theta
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.shape[0] != x.shape[0]:
        raise ValueError(f"theta has {th.shape[0]} entries for {x.shape[0]} persons")
    return th


@dataclass(frozen=True)
class RaschFit:
    """Infit and outfit mean squares and their t statistics, arrays of shape (J,)."""

    item_ids: tuple[str, ...]
    infit: FloatArray
    outfit: FloatArray
    infit_t: FloatArray
    outfit_t: FloatArray


def _wilson_hilferty(mean_square: FloatArray, q: FloatArray) -> FloatArray:
    q = np.minimum(q, INFIT_Q_CAP)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((np.cbrt(mean_square) - 1.0) * (3.0 / q) + q / 3.0, dtype=np.float64)


def rasch_fit(params: ItemParameters, responses: ArrayLike, theta: ArrayLike | None = None) -> RaschFit:
    """Infit/outfit mean squares and t statistics (module docstring); meaningful for Rasch-family items.

    ``theta`` defaults to ML estimates with the persons whose estimate sits at a bound (all answers in the
    lowest or highest category) left out, as Rasch programs do: their residuals are zero by construction.
    Persons with a non-finite theta are always left out.
    """
    x = check_responses(params, responses)
    if theta is None:
        ml = ml_scores(params, x)
        th = np.where(ml.at_bound, np.nan, ml.theta)
    else:
        th = _theta_or_eap(params, x, theta)
    usable = np.isfinite(th)
    x, th = x[usable], th[usable]
    mean, var, fourth = _moments(params, th)
    observed = x >= 0
    resid2 = np.where(observed, (x - mean) ** 2, 0.0)
    w = np.where(observed, var, 0.0)
    c = np.where(observed, fourth, 0.0)
    n = observed.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        outfit = np.where(observed, resid2 / var, 0.0).sum(axis=0) / n
        infit = resid2.sum(axis=0) / w.sum(axis=0)
        q_out = np.sqrt(
            np.maximum(np.where(observed, c / (var * var), 0.0).sum(axis=0) / (n * n) - 1.0 / n, 0.0)
        )
        q_in = np.sqrt(np.maximum((c - w * w).sum(axis=0) / w.sum(axis=0) ** 2, 0.0))
    return RaschFit(
        item_ids=params.item_ids,
        infit=infit,
        outfit=outfit,
        infit_t=_wilson_hilferty(infit, q_in),
        outfit_t=_wilson_hilferty(outfit, q_out),
    )


def q3(params: ItemParameters, responses: ArrayLike, theta: ArrayLike | None = None) -> FloatArray:
    """Yen's Q3 matrix, shape (J, J), 1 on the diagonal (module docstring)."""
    x = check_responses(params, responses)
    th = _theta_or_eap(params, x, theta)
    usable = np.isfinite(th)
    x, th = x[usable], th[usable]
    mean, _, _ = _moments(params, th)
    observed = x >= 0
    return pairwise_correlation(np.where(observed, x - mean, 0.0), observed)


def local_dependence(
    q3_matrix: ArrayLike, item_ids: Sequence[str], *, threshold: float = 0.2, relative_to_mean: bool = False
) -> list[tuple[str, str, float]]:
    """Item pairs whose Q3 exceeds ``threshold``, largest first.

    With ``relative_to_mean`` the mean off-diagonal Q3 is subtracted first (Q3* of Christensen et al., 2017).
    Returns ``(item_a, item_b, q3)`` with the raw Q3 value.
    """
    q = np.asarray(q3_matrix, dtype=np.float64)
    if q.shape != (len(item_ids), len(item_ids)):
        raise ValueError(f"q3_matrix must be ({len(item_ids)}, {len(item_ids)}), got {q.shape}")
    upper = np.triu_indices(q.shape[0], k=1)
    values = q[upper]
    shift = float(np.nanmean(values)) if relative_to_mean and values.size else 0.0
    hits = np.flatnonzero(values - shift > threshold)
    order = hits[np.argsort(-values[hits])]
    return [(item_ids[int(upper[0][i])], item_ids[int(upper[1][i])], float(values[i])) for i in order]
