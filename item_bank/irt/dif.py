"""Differential item functioning between a reference and a focal group (e.g. language versions, gender).

Three procedures:

* :func:`mantel_haenszel` for dichotomous items (Holland & Thayer, 1988): common odds ratio ``alpha_MH``, the
  MH chi-square with continuity correction, ETS delta ``D = -2.35 ln(alpha_MH)`` with the
  Robins-Breslow-Greenland standard error, and the ETS A/B/C classification;
* :func:`mantel_polytomous` for ordered polytomous items such as situational-judgement items: Mantel's (1963)
  chi-square and the standardized mean difference (Dorans & Schmitt, 1991), with the ETS AA/BB/CC
  classification;
* :func:`likelihood_ratio_dif`, IRT likelihood-ratio DIF: a two-group calibration with every item invariant
  against one in which the studied item's parameters are free in each group (R mirt's
  ``DIF(scheme = "add")``).

Matching (MH and Mantel): persons are stratified by their total score over all items, the studied item
included (Holland & Thayer's recommendation), one stratum per score. With missing responses, the total is the
sum of the observed responses and the persons who did not answer the studied item are left out of that item's
analysis. Strata with fewer than two persons or only one group carry no information and are skipped.

Sign convention (ETS): a negative D (or SMD) means the item favours the reference group, i.e. it is harder for
focal-group members of the same total score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from item_bank.irt.calibration import Calibrator

__all__ = [
    "ETS_DELTA_SCALE",
    "LikelihoodRatioDIF",
    "MantelHaenszelDIF",
    "MantelHaenszelTables",
    "PolytomousDIF",
    "ets_classification",
    "ets_polytomous_classification",
    "likelihood_ratio_dif",
    "mantel_haenszel",
    "mantel_haenszel_tables",
    "mantel_polytomous",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ETS_DELTA_SCALE = -2.35
"""``D = -2.35 ln(alpha_MH)``: the log odds ratio on the ETS delta scale (4 / 1.702 rounded)."""


# ---------------------------------------------------------------------------------------------------------
# Mantel-Haenszel for 2 x 2 x S tables
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MantelHaenszelTables:
    """Mantel-Haenszel statistics of one item's 2 x 2 tables (one per matching stratum).

    Attributes
    ----------
    alpha : float
        Common odds ratio ``sum(A D / T) / sum(B C / T)`` (reference-correct x focal-wrong over the reverse).
    log_alpha_se : float
        Robins-Breslow-Greenland (1986) standard error of ``ln(alpha)``.
    delta : float
        ETS ``D = -2.35 ln(alpha)``.
    delta_se : float
        ``2.35 * log_alpha_se``.
    chi2 : float
        ``(|sum A - sum E(A)| - 0.5)^2 / sum Var(A)`` with ``E(A) = n_R m_1 / T`` and
        ``Var(A) = n_R n_F m_1 m_0 / (T^2 (T - 1))`` (1 df).
    p : float
        Upper tail of the chi-square with 1 df.
    ets : str
        ETS class, see :func:`ets_classification`.
    """

    alpha: float
    log_alpha_se: float
    delta: float
    delta_se: float
    chi2: float
    p: float
    ets: str


def mantel_haenszel_tables(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    d: ArrayLike,
    *,
    continuity: bool = True,
    alpha_level: float = 0.05,
) -> MantelHaenszelTables:
    """Mantel-Haenszel statistics from the cells of S 2 x 2 tables.

    Parameters
    ----------
    a, b : array_like, shape (S,)
        Reference group: number right (A) and wrong (B) in each stratum.
    c, d : array_like, shape (S,)
        Focal group: number right (C) and wrong (D).
    continuity : bool
        Apply the 0.5 continuity correction to the chi-square (ETS practice).
    alpha_level : float
        Significance level of the ETS classification tests.

    Returns
    -------
    MantelHaenszelTables
        ``alpha`` is inf (D = -inf) or 0 (D = +inf) when one off-diagonal sum is zero.
    """
    cells = [np.asarray(v, dtype=np.float64).reshape(-1) for v in (a, b, c, d)]
    if len({v.shape for v in cells}) != 1:
        raise ValueError(f"a, b, c, d must have one entry per stratum, got shapes {[v.shape for v in cells]}")
    aa, bb, cc, dd = cells
    n_ref, n_foc = aa + bb, cc + dd
    total = n_ref + n_foc
    keep = (n_ref > 0) & (n_foc > 0) & (total >= 2)
    aa, bb, cc, dd, n_ref, n_foc, total = (v[keep] for v in (aa, bb, cc, dd, n_ref, n_foc, total))
    right, wrong = aa + cc, bb + dd
    r = aa * dd / total
    s = bb * cc / total
    big_r, big_s = float(r.sum()), float(s.sum())
    if big_r > 0 and big_s > 0:
        alpha, delta = big_r / big_s, ETS_DELTA_SCALE * float(np.log(big_r / big_s))
    elif big_r > 0:  # no focal-right-with-reference-wrong evidence at all: infinitely favours the reference
        alpha, delta = np.inf, -np.inf
    elif big_s > 0:
        alpha, delta = 0.0, np.inf
    else:
        alpha, delta = np.nan, np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        # Robins, Breslow & Greenland (1986): P = (A + D)/T, Q = (B + C)/T.
        pp = (aa + dd) / total
        qq = (bb + cc) / total
        var_log = (
            np.sum(pp * r) / (2 * big_r**2)
            + np.sum(pp * s + qq * r) / (2 * big_r * big_s)
            + np.sum(qq * s) / (2 * big_s**2)
        )
        expected = n_ref * right / total
        variance = n_ref * n_foc * right * wrong / (total**2 * (total - 1.0))
        deviation = abs(float(aa.sum() - expected.sum()))
        if continuity:
            deviation = max(deviation - 0.5, 0.0)
        sum_var = float(variance.sum())
        chi2 = deviation**2 / sum_var if sum_var > 0 else np.nan
    log_se = float(np.sqrt(var_log)) if np.isfinite(var_log) else np.nan
    p = float(stats.chi2.sf(chi2, 1)) if np.isfinite(chi2) else np.nan
    delta_se = -ETS_DELTA_SCALE * log_se
    return MantelHaenszelTables(
        alpha=float(alpha),
        log_alpha_se=log_se,
        delta=delta,
        delta_se=delta_se,
        chi2=float(chi2),
        p=p,
        ets=ets_classification(delta, delta_se, p, alpha_level),
    )


def ets_classification(delta: float, delta_se: float, p_value: float, alpha_level: float = 0.05) -> str:
    """ETS A/B/C category of an MH D-DIF value (Zwick, 2012; Paek & Holland, 2015).

    * **A** (negligible): ``|D| < 1``, or the MH chi-square is not significant (``p >= alpha_level``);
    * **C** (large): ``|D| >= 1.5`` *and* ``|D|`` significantly greater than 1 by the interval-null test of
      Paek & Holland (2015): H0 ``|Delta| <= 1`` is rejected when its p-value at the boundary,
      ``Phi((1 - |D|) / SE) + Phi((-1 - |D|) / SE)``, is below ``alpha_level`` (the one-sided
      ``(|D| - 1) / SE > 1.645`` rule up to the negligible second term);
    * **B** (moderate): every other item.

    The letter is followed by ``"-"`` when D < 0 (favours the reference group) or ``"+"`` when D > 0; class A
    has no sign. NaN inputs (no usable strata) give ``"?"``.
    """
    if np.isnan(p_value) or np.isnan(delta):
        return "?"
    size = abs(delta)
    if size < 1.0 or p_value >= alpha_level:
        return "A"
    sign = "-" if delta < 0 else "+"
    if size >= 1.5:
        if not np.isfinite(size) or delta_se == 0:
            return "C" + sign
        interval_p = float(stats.norm.cdf((1.0 - size) / delta_se) + stats.norm.cdf((-1.0 - size) / delta_se))
        if interval_p < alpha_level:
            return "C" + sign
    return "B" + sign


# ---------------------------------------------------------------------------------------------------------
# Group handling and matching shared by MH and Mantel
# ---------------------------------------------------------------------------------------------------------


def _split_groups(
    groups: ArrayLike, n: int, focal: Any, reference: Any | None
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must have one label per person, shape ({n},), got {g.shape}")
    is_focal = g == focal
    if not is_focal.any():
        raise ValueError(f"no person belongs to the focal group {focal!r}")
    if reference is None:
        others = sorted({str(v) for v in g[~is_focal].tolist()})
        if len(others) != 1:
            raise ValueError(
                f"groups has {len(others) + 1} labels {sorted([*others, str(focal)])}; "
                "name the reference group"
            )
        is_ref = ~is_focal
    else:
        is_ref = g == reference
        if not is_ref.any():
            raise ValueError(f"no person belongs to the reference group {reference!r}")
    return is_ref, is_focal


def _prepare(
    responses: ArrayLike,
    groups: ArrayLike,
    focal: Any,
    reference: Any | None,
    item_ids: Sequence[str] | None,
    matching: ArrayLike | None,
) -> tuple[IntArray, NDArray[np.bool_], NDArray[np.bool_], IntArray, tuple[str, ...]]:
    x = np.asarray(responses)
    if x.ndim != 2 or x.dtype.kind not in "iu":
        raise ValueError(
            f"responses must be a 2-D integer array (-1 = not presented), got {x.dtype} {x.shape}"
        )
    x = x.astype(np.int64)
    is_ref, is_focal = _split_groups(groups, x.shape[0], focal, reference)
    ids = tuple(item_ids) if item_ids is not None else tuple(str(j + 1) for j in range(x.shape[1]))
    if len(ids) != x.shape[1]:
        raise ValueError(f"{len(ids)} item ids for {x.shape[1]} response columns")
    if matching is None:
        total = np.where(x >= 0, x, 0).sum(axis=1)
    else:
        total = np.asarray(matching)
        if total.shape != (x.shape[0],):
            raise ValueError(
                f"matching must have one score per person, shape ({x.shape[0]},), got {total.shape}"
            )
        total = np.round(total).astype(np.int64)
    return x, is_ref, is_focal, total.astype(np.int64), ids


# ---------------------------------------------------------------------------------------------------------
# Dichotomous items: Mantel-Haenszel
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MantelHaenszelDIF:
    """Mantel-Haenszel DIF statistics per item (arrays of shape (J,)); see :class:`MantelHaenszelTables`."""

    item_ids: tuple[str, ...]
    alpha: FloatArray
    delta: FloatArray
    delta_se: FloatArray
    chi2: FloatArray
    p: FloatArray
    ets: tuple[str, ...]
    n_reference: IntArray
    n_focal: IntArray

    def flagged(self, category: str = "C") -> tuple[str, ...]:
        """Ids of items in an ETS category (``"C"``, ``"B"`` or ``"A"``), either sign."""
        return tuple(i for i, e in zip(self.item_ids, self.ets, strict=True) if e.startswith(category))


def mantel_haenszel(
    responses: ArrayLike,
    groups: ArrayLike,
    *,
    focal: Any,
    reference: Any | None = None,
    item_ids: Sequence[str] | None = None,
    matching: ArrayLike | None = None,
    continuity: bool = True,
    alpha_level: float = 0.05,
) -> MantelHaenszelDIF:
    """Mantel-Haenszel DIF of every dichotomous item.

    Parameters
    ----------
    responses : array_like of int, shape (N, J)
        0/1, -1 = not presented. Polytomous columns are rejected: use :func:`mantel_polytomous`.
    groups : array_like, shape (N,)
        Group label of each person.
    focal : label
        The focal group (e.g. the translated version).
    reference : label, optional
        Needed only when ``groups`` has more than two labels; persons in neither group are ignored.
    matching : array_like, shape (N,), optional
        Matching score per person; default the total observed score (see the module docstring).
    continuity, alpha_level
        See :func:`mantel_haenszel_tables`.

    Returns
    -------
    MantelHaenszelDIF
    """
    x, is_ref, is_focal, total, ids = _prepare(responses, groups, focal, reference, item_ids, matching)
    if x.max(initial=0) > 1:
        j = int(np.argmax((x > 1).any(axis=0)))
        raise ValueError(
            f"item {ids[j]!r} has categories above 1; use mantel_polytomous for polytomous items"
        )
    strata, level = np.unique(total, return_inverse=True)
    n_strata = strata.shape[0]
    results = []
    n_ref = np.zeros(x.shape[1], dtype=np.int64)
    n_foc = np.zeros(x.shape[1], dtype=np.int64)
    for j in range(x.shape[1]):
        answered = x[:, j] >= 0
        right = answered & (x[:, j] == 1)
        wrong = answered & (x[:, j] == 0)
        cells = [
            np.bincount(level[group & outcome], minlength=n_strata)
            for group in (is_ref, is_focal)
            for outcome in (right, wrong)
        ]
        n_ref[j] = int((answered & is_ref).sum())
        n_foc[j] = int((answered & is_focal).sum())
        results.append(mantel_haenszel_tables(*cells, continuity=continuity, alpha_level=alpha_level))
    return MantelHaenszelDIF(
        item_ids=ids,
        alpha=np.array([r.alpha for r in results]),
        delta=np.array([r.delta for r in results]),
        delta_se=np.array([r.delta_se for r in results]),
        chi2=np.array([r.chi2 for r in results]),
        p=np.array([r.p for r in results]),
        ets=tuple(r.ets for r in results),
        n_reference=n_ref,
        n_focal=n_foc,
    )


# ---------------------------------------------------------------------------------------------------------
# Polytomous items: Mantel's test and the standardized mean difference
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolytomousDIF:
    """Mantel (1963) chi-square and SMD per item (arrays of shape (J,)).

    Attributes
    ----------
    chi2, p : ndarray
        Mantel's 1-df chi-square ``(sum F - sum E(F))^2 / sum Var(F)`` with F the focal group's summed item
        score in a stratum, ``E(F) = n_F / T * sum y`` and
        ``Var(F) = n_R n_F / (T^2 (T - 1)) * (T sum y^2 - (sum y)^2)``.
    smd : ndarray
        Standardized mean difference ``sum_k (n_Fk / n_F) (mean_Fk - mean_Rk)`` (focal-group weights).
    effect_size : ndarray
        ``smd / SD`` with SD the item-score standard deviation of both groups together.
    ets : tuple of str
        ``"AA"``, ``"BB"`` or ``"CC"`` (see :func:`ets_polytomous_classification`), signed like the SMD.
    """

    item_ids: tuple[str, ...]
    chi2: FloatArray
    p: FloatArray
    smd: FloatArray
    effect_size: FloatArray
    ets: tuple[str, ...]
    n_reference: IntArray
    n_focal: IntArray


def ets_polytomous_classification(effect_size: float, p_value: float, alpha_level: float = 0.05) -> str:
    """ETS category of a polytomous item (Zwick, Thayer & Mazzeo, 1997; Allen, Carlson & Zelenak, 1999).

    ``AA`` when Mantel's test is not significant or ``|SMD/SD| <= 0.17``; ``CC`` when significant and
    ``|SMD/SD| > 0.25``; ``BB`` otherwise. ``"-"``/``"+"`` follows for negative/positive SMD (BB and CC).
    """
    if not (np.isfinite(effect_size) and np.isfinite(p_value)):
        return "?"
    size = abs(effect_size)
    if p_value >= alpha_level or size <= 0.17:
        return "AA"
    sign = "-" if effect_size < 0 else "+"
    return ("CC" if size > 0.25 else "BB") + sign


def mantel_polytomous(
    responses: ArrayLike,
    groups: ArrayLike,
    *,
    focal: Any,
    reference: Any | None = None,
    item_ids: Sequence[str] | None = None,
    matching: ArrayLike | None = None,
    alpha_level: float = 0.05,
) -> PolytomousDIF:
    """Mantel's test and the standardized mean difference of every item (polytomous or dichotomous).

    Arguments as :func:`mantel_haenszel`; item scores are the categories 0..K-1.
    """
    x, is_ref, is_focal, total, ids = _prepare(responses, groups, focal, reference, item_ids, matching)
    strata, level = np.unique(total, return_inverse=True)
    n_strata = strata.shape[0]
    n_items = x.shape[1]
    chi2 = np.full(n_items, np.nan)
    smd = np.full(n_items, np.nan)
    effect = np.full(n_items, np.nan)
    n_ref = np.zeros(n_items, dtype=np.int64)
    n_foc = np.zeros(n_items, dtype=np.int64)
    for j in range(n_items):
        answered = x[:, j] >= 0
        y = x[:, j].astype(np.float64)

        def sums(mask: NDArray[np.bool_], values: FloatArray, lv: IntArray = level) -> FloatArray:
            return np.bincount(lv[mask], weights=values[mask], minlength=n_strata).astype(np.float64)

        ref, foc = answered & is_ref, answered & is_focal
        ones = np.ones_like(y)
        nr, nf = sums(ref, ones), sums(foc, ones)
        sr, sf = sums(ref, y), sums(foc, y)
        qr, qf = sums(ref, y * y), sums(foc, y * y)
        n_ref[j], n_foc[j] = int(ref.sum()), int(foc.sum())
        t = nr + nf
        keep = (nr > 0) & (nf > 0) & (t >= 2)
        if not keep.any():
            continue
        t, nr, nf, sr, sf, qr, qf = (v[keep] for v in (t, nr, nf, sr, sf, qr, qf))
        s_all, q_all = sr + sf, qr + qf
        expected = nf * s_all / t
        variance = nr * nf / (t * t * (t - 1.0)) * (t * q_all - s_all * s_all)
        if variance.sum() > 0:
            chi2[j] = (sf.sum() - expected.sum()) ** 2 / variance.sum()
        smd[j] = float(np.sum(nf / nf.sum() * (sf / nf - sr / nr)))
        both = ref | foc
        sd = float(np.std(y[both], ddof=1)) if both.sum() > 1 else np.nan
        effect[j] = smd[j] / sd if sd > 0 else np.nan
    p = np.where(np.isfinite(chi2), stats.chi2.sf(np.nan_to_num(chi2), 1), np.nan)
    return PolytomousDIF(
        item_ids=ids,
        chi2=chi2,
        p=p,
        smd=smd,
        effect_size=effect,
        ets=tuple(
            ets_polytomous_classification(float(e), float(pv), alpha_level)
            for e, pv in zip(effect, p, strict=True)
        ),
        n_reference=n_ref,
        n_focal=n_foc,
    )


# ---------------------------------------------------------------------------------------------------------
# IRT likelihood-ratio DIF
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LikelihoodRatioDIF:
    """Likelihood-ratio DIF tests of the studied items (arrays of shape (J_studied,)).

    Attributes
    ----------
    item_ids : tuple of str
        Studied items.
    statistic : ndarray
        ``LR = 2 (logL_free - logL_constrained)``.
    df : ndarray of int
        Parameters freed: the item's parameter count (a, b [, c] or a, b_1..b_{K-1}).
    p : ndarray
        Upper tail of chi-square(df).
    log_likelihood_constrained : float
        Log-likelihood of the model with every item invariant across groups.
    log_likelihood_free : ndarray
        Log-likelihood with the studied item free in each group.
    """

    item_ids: tuple[str, ...]
    statistic: FloatArray
    df: IntArray
    p: FloatArray
    log_likelihood_constrained: float
    log_likelihood_free: FloatArray

    def flagged(self, alpha_level: float = 0.05) -> tuple[str, ...]:
        """Ids of items with ``p < alpha_level``."""
        return tuple(i for i, p in zip(self.item_ids, self.p, strict=True) if p < alpha_level)


def likelihood_ratio_dif(
    responses: ArrayLike,
    groups: ArrayLike,
    *,
    model: str | Sequence[str] = "2pl",
    item_ids: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    reference_group: Any = None,
    calibrator_options: Mapping[str, Any] | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> LikelihoodRatioDIF:
    """IRT likelihood-ratio DIF by multiple-group calibration.

    The constrained model has every item invariant across groups, with the focal groups' latent means and SDs
    free (so real ability differences are not mistaken for DIF). For each studied item a second model frees
    that item's parameters in every group; ``LR = 2 (logL_free - logL_constrained)`` is referred to chi-square
    with df = the number of parameters freed. All other items serve as anchors, so a strongly DIF item
    elsewhere biases the test: purify by re-running with ``items`` and an anchor set (exclude flagged items
    from the data).

    Parameters
    ----------
    responses : array_like of int, shape (N, J)
    groups : array_like, shape (N,)
        Group label per person (two or more groups).
    model : str or sequence of str
        Passed to :class:`~item_bank.irt.calibration.Calibrator`.
    items : sequence of str, optional
        Studied items; default all.
    reference_group : label, optional
        Reference group of the calibration (default: first label in sorted order).
    calibrator_options : mapping, optional
        Further Calibrator keyword arguments; standard errors are skipped unless asked for.
    on_item : callable, optional
        ``on_item(done, total)`` after each studied item's free model (progress; may raise to stop).

    Returns
    -------
    LikelihoodRatioDIF
        LR values below 0 (possible by the EM tolerance when there is no DIF) are reported as 0.
    """
    x = np.asarray(responses)
    ids = tuple(item_ids) if item_ids is not None else tuple(f"i{j + 1:03d}" for j in range(x.shape[1]))
    studied = tuple(items) if items is not None else ids
    unknown = [i for i in studied if i not in ids]
    if unknown:
        raise ValueError(f"studied items {unknown} are not among the response columns")
    options: dict[str, Any] = {"se_method": None, **(calibrator_options or {})}

    def calibrate(free: Sequence[str] | None) -> Calibrator:
        return Calibrator(model, groups_free_items=free, **options).fit(
            x, ids, groups=groups, reference_group=reference_group
        )

    constrained = calibrate(None)
    ll_free = np.empty(len(studied))
    df = np.empty(len(studied), dtype=np.int64)
    for n, item in enumerate(studied):
        free = calibrate([item])
        ll_free[n] = free.log_likelihood_
        df[n] = free.n_parameters_ - constrained.n_parameters_
        if on_item is not None:
            on_item(n + 1, len(studied))
    statistic = np.maximum(2.0 * (ll_free - constrained.log_likelihood_), 0.0)
    return LikelihoodRatioDIF(
        item_ids=studied,
        statistic=statistic,
        df=df,
        p=stats.chi2.sf(statistic, df),
        log_likelihood_constrained=float(constrained.log_likelihood_),
        log_likelihood_free=ll_free,
    )
