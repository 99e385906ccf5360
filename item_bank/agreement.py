"""Agreement between raters: intraclass correlations, and the interview stage built from the panel's ratings.

The commission rates every candidate on every judicial competence, one rating per member. Two questions:

* how well do the members agree? :func:`icc` gives the six intraclass correlations of Shrout & Fleiss (1979)
  for a targets x raters matrix, with the F tests and confidence intervals of Shrout & Fleiss and McGraw &
  Wong (1996); :func:`panel_agreement` applies it per competence and to the members' overall scores;
* what does the interview contribute to the composite? :func:`interview_stage` turns the candidates x
  members x competences ratings into a :class:`~item_bank.composite.StageScores` (score, SE, reliability).

Names. Shrout & Fleiss's ICC(1,1), ICC(2,1), ICC(3,1) and their average-measures forms ICC(1,k), ICC(2,k),
ICC(3,k) are McGraw & Wong's ICC(1), ICC(A,1), ICC(C,1), ICC(k), ICC(A,k), ICC(C,k): one-way random; two-way
random, absolute agreement; two-way, consistency (Shrout & Fleiss's case 3: mixed, raters fixed).

The ANOVA of an n x k matrix ``x`` (n targets, k raters) with grand mean ``m``, target means ``r_i`` and rater
means ``c_j``::

    MSR = k sum_i (r_i - m)^2 / (n - 1)                      between targets,   df n - 1
    MSC = n sum_j (c_j - m)^2 / (k - 1)                      between raters,    df k - 1
    MSW = (SST - SSR) / (n (k - 1))                          within targets,    df n (k - 1)
    MSE = (SST - SSR - SSC) / ((n - 1)(k - 1))               residual,          df (n - 1)(k - 1)

    ICC(1,1) = (MSR - MSW) / (MSR + (k - 1) MSW)             ICC(1,k) = (MSR - MSW) / MSR
    ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)
    ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n)
    ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE)             ICC(3,k) = (MSR - MSE) / MSR

Missing ratings. These ANOVA formulas need a complete matrix, so targets with any missing rating are left out
of the ICC (listwise, as R psych's ``ICC(missing = TRUE)`` and DescTools' ``ICC(na.rm = TRUE)`` do); the
result says how many and which. A mixed-model (REML) estimate would use the incomplete targets too; it is not
implemented. The interview *scores*, by contrast, use every rating given (see :func:`interview_stage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from item_bank.composite import StageScores

__all__ = [
    "ICCEstimate",
    "ICCResult",
    "PanelAgreement",
    "icc",
    "interview_stage",
    "member_scores",
    "panel_agreement",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ICCEstimate:
    """One intraclass correlation with its F test and confidence interval.

    Attributes
    ----------
    name : str
        Shrout & Fleiss's name, e.g. ``"ICC(2,1)"``.
    mcgraw_wong : str
        McGraw & Wong's name, e.g. ``"ICC(A,1)"``.
    value : float
        The point estimate (it can be negative when the targets differ less than the ratings of one target).
    f : float
        The F statistic of ``H0: ICC = 0``: ``MSR / MSW`` for case 1, ``MSR / MSE`` for cases 2 and 3.
    df1, df2 : float
        Its degrees of freedom.
    p : float
        Upper tail of ``F(df1, df2)`` at ``f``.
    lower, upper : float
        Confidence interval at the level of :attr:`ICCResult.level` (see :func:`icc` for the formulas).
    """

    name: str
    mcgraw_wong: str
    value: float
    f: float
    df1: float
    df2: float
    p: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ICCResult:
    """The six Shrout & Fleiss intraclass correlations of one ratings matrix, and the ANOVA behind them.

    Attributes
    ----------
    icc1, icc2, icc3 : ICCEstimate
        Single-rater ICC(1,1), ICC(2,1), ICC(3,1).
    icc1k, icc2k, icc3k : ICCEstimate
        Average of the k raters: ICC(1,k), ICC(2,k), ICC(3,k).
    n_targets, n_raters : int
        The complete targets used (n) and the raters (k).
    dropped : tuple of int
        Row indices of the targets left out because a rating was missing.
    ms_rows, ms_cols, ms_within, ms_error : float
        MSR, MSC, MSW, MSE (module docstring).
    level : float
        Confidence level of the intervals.
    """

    icc1: ICCEstimate
    icc2: ICCEstimate
    icc3: ICCEstimate
    icc1k: ICCEstimate
    icc2k: ICCEstimate
    icc3k: ICCEstimate
    n_targets: int
    n_raters: int
    dropped: tuple[int, ...]
    ms_rows: float
    ms_cols: float
    ms_within: float
    ms_error: float
    level: float

    def estimates(self) -> tuple[ICCEstimate, ...]:
        """The six estimates in Shrout & Fleiss's order: (1,1), (2,1), (3,1), (1,k), (2,k), (3,k)."""
        return (self.icc1, self.icc2, self.icc3, self.icc1k, self.icc2k, self.icc3k)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        msg = f"level must be strictly between 0 and 1, got {level!r}"
        raise ValueError(msg)


def _ratings_matrix(ratings: ArrayLike) -> FloatArray:
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        msg = f"ratings must be a 2-D targets x raters matrix, got shape {x.shape}"
        raise ValueError(msg)
    if np.isinf(x).any():
        msg = f"ratings must be finite or NaN (missing), got {int(np.isinf(x).sum())} infinite value(s)"
        raise ValueError(msg)
    return x


def icc(ratings: ArrayLike, *, level: float = 0.95) -> ICCResult:
    """Shrout & Fleiss's six intraclass correlations with F tests and confidence intervals.

    Parameters
    ----------
    ratings : array_like, shape (n, k)
        One row per target (candidate), one column per rater (commission member); NaN for a missing
        rating. Targets with any missing rating are left out (module docstring).
    level : float
        Confidence level of the intervals (two-sided, ``alpha = 1 - level``).

    Returns
    -------
    ICCResult

    Notes
    -----
    Confidence intervals, with ``F_q(a, b)`` the ``q = 1 - alpha/2`` quantile of F:

    * cases 1 and 3 (Shrout & Fleiss, 1979; McGraw & Wong, 1996, Table 7): with ``F0 = MSR/MSW`` (case 1,
      ``df2 = n(k-1)``) or ``F0 = MSR/MSE`` (case 3, ``df2 = (n-1)(k-1)``), ``FL = F0 / F_q(n-1, df2)`` and
      ``FU = F0 F_q(df2, n-1)``; single rater ``[(FL-1)/(FL+k-1), (FU-1)/(FU+k-1)]``, average of k
      ``[1 - 1/FL, 1 - 1/FU]``;
    * case 2, single rater: Satterthwaite's approximation (Shrout & Fleiss, eq. for ICC(2,1); McGraw & Wong,
      Table 7, case 2A). With ``Fj = MSC/MSE`` and ``p`` the point estimate of ICC(2,1)::

          v = (k-1)(n-1) [k p Fj + n (1 + (k-1) p) - k p]^2 / ((n-1) k^2 p^2 Fj^2 + (n (1 + (k-1) p) - k p)^2)
          L = n (MSR - F_q(n-1, v) MSE) / (F_q(n-1, v) (k MSC + (kn - k - n) MSE) + n MSR)
          U = n (F_q(v, n-1) MSR - MSE) / (k MSC + (kn - k - n) MSE + n F_q(v, n-1) MSR)

    * case 2, average of k: the single-rater bounds stepped up by Spearman-Brown, ``k L / (1 + (k-1) L)``
      (as R psych does).

    Reproduces the published example (Shrout & Fleiss 1979, Table 2, six targets by four judges):
    ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71, ICC(1,k) = .44, ICC(2,k) = .62, ICC(3,k) = .91.

    Raises
    ------
    ValueError
        Fewer than two complete targets or two raters, or no variation at all.
    """
    _check_level(level)
    x = _ratings_matrix(ratings)
    complete = ~np.isnan(x).any(axis=1)
    dropped = tuple(int(i) for i in np.flatnonzero(~complete))
    x = x[complete]
    n, k = x.shape
    if k < 2:
        msg = f"need at least 2 raters, got {k}"
        raise ValueError(msg)
    if n < 2:
        msg = (
            f"need at least 2 targets with every rating present, got {n} ({len(dropped)} incomplete left out)"
        )
        raise ValueError(msg)

    grand = float(x.mean())
    ss_total = float(np.sum((x - grand) ** 2))
    ss_rows = k * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((x.mean(axis=0) - grand) ** 2))
    # numpy scalars, so that a degenerate matrix gives inf/NaN (under errstate) instead of ZeroDivisionError
    msr = np.float64(ss_rows / (n - 1))
    msc = np.float64(ss_cols / (k - 1))
    msw = np.float64(max(ss_total - ss_rows, 0.0) / (n * (k - 1)))
    mse = np.float64(max(ss_total - ss_rows - ss_cols, 0.0) / ((n - 1) * (k - 1)))
    if msr == 0.0 and msw == 0.0:
        msg = f"the {n} x {k} ratings do not vary (every rating is {grand!r}): the ICC is undefined"
        raise ValueError(msg)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        six = _estimates(msr, msc, msw, mse, n, k, level)
    return ICCResult(
        *six,
        n_targets=n,
        n_raters=k,
        dropped=dropped,
        ms_rows=float(msr),
        ms_cols=float(msc),
        ms_within=float(msw),
        ms_error=float(mse),
        level=level,
    )


def _estimates(
    msr: np.float64, msc: np.float64, msw: np.float64, mse: np.float64, n: int, k: int, level: float
) -> tuple[ICCEstimate, ICCEstimate, ICCEstimate, ICCEstimate, ICCEstimate, ICCEstimate]:
    """The six estimates from the mean squares, in the field order of :class:`ICCResult` (see :func:`icc`)."""
    q = 1.0 - (1.0 - level) / 2.0
    df_rows, df_cols, df_within, df_error = n - 1, k - 1, n * (k - 1), (n - 1) * (k - 1)

    def f_quantile(a: float, b: float) -> float:
        return float(stats.f.ppf(q, a, b))

    # Case 1: one-way random effects; case 3: two-way, raters fixed (consistency).
    f1, f3 = msr / msw, msr / mse
    p1, p3 = float(stats.f.sf(f1, df_rows, df_within)), float(stats.f.sf(f3, df_rows, df_error))
    fl1, fu1 = f1 / f_quantile(df_rows, df_within), f1 * f_quantile(df_within, df_rows)
    fl3, fu3 = f3 / f_quantile(df_rows, df_error), f3 * f_quantile(df_error, df_rows)

    # Case 2: two-way random (absolute agreement), Satterthwaite's degrees of freedom for the interval.
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    fj = msc / mse
    base = n * (1.0 + (k - 1) * icc2) - k * icc2
    v = df_cols * df_rows * (k * icc2 * fj + base) ** 2 / (df_rows * k**2 * icc2**2 * fj**2 + base**2)
    if np.isfinite(v) and v > 0:
        f_low, f_high = f_quantile(df_rows, v), f_quantile(v, df_rows)
        common = k * msc + (k * n - k - n) * mse
        bounds2 = (
            float(n * (msr - f_low * mse) / (f_low * common + n * msr)),
            float(n * (f_high * msr - mse) / (common + n * f_high * msr)),
        )
    else:  # a degenerate matrix (MSE = 0): no interval
        bounds2 = (float("nan"), float("nan"))

    def single(fl: float, fu: float) -> tuple[float, float]:
        return float((fl - 1.0) / (fl + k - 1.0)), float((fu - 1.0) / (fu + k - 1.0))

    def average(fl: float, fu: float) -> tuple[float, float]:
        return float(1.0 - 1.0 / fl), float(1.0 - 1.0 / fu)

    def step_up(r: float) -> float:
        return k * r / (1.0 + (k - 1) * r)

    def make(
        name: str, mw: str, value: float, f: float, df2: int, p: float, bounds: tuple[float, float]
    ) -> ICCEstimate:
        return ICCEstimate(
            name, mw, float(value), float(f), float(df_rows), float(df2), p, bounds[0], bounds[1]
        )

    return (
        make("ICC(1,1)", "ICC(1)", (msr - msw) / (msr + (k - 1) * msw), f1, df_within, p1, single(fl1, fu1)),
        make("ICC(2,1)", "ICC(A,1)", icc2, f3, df_error, p3, bounds2),
        make("ICC(3,1)", "ICC(C,1)", (msr - mse) / (msr + (k - 1) * mse), f3, df_error, p3, single(fl3, fu3)),
        make("ICC(1,k)", "ICC(k)", (msr - msw) / msr, f1, df_within, p1, average(fl1, fu1)),
        make(
            "ICC(2,k)",
            "ICC(A,k)",
            (msr - mse) / (msr + (msc - mse) / n),
            f3,
            df_error,
            p3,
            (step_up(bounds2[0]), step_up(bounds2[1])),
        ),
        make("ICC(3,k)", "ICC(C,k)", (msr - mse) / msr, f3, df_error, p3, average(fl3, fu3)),
    )


# ---------------------------------------------------------------------------------------------------------
# The interview panel
# ---------------------------------------------------------------------------------------------------------


def _panel_array(ratings: ArrayLike) -> FloatArray:
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 3:
        msg = f"ratings must be a 3-D candidates x members x competences array, got shape {x.shape}"
        raise ValueError(msg)
    if np.isinf(x).any():
        msg = f"ratings must be finite or NaN (missing), got {int(np.isinf(x).sum())} infinite value(s)"
        raise ValueError(msg)
    return x


def _competence_weights(weights: ArrayLike | None, n_competences: int) -> FloatArray:
    if weights is None:
        return np.full(n_competences, 1.0 / n_competences)
    w: FloatArray = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_competences,):
        msg = f"competence_weights must have shape ({n_competences},), got {w.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        msg = f"competence_weights must be finite, non-negative and not all zero, got {w.tolist()}"
        raise ValueError(msg)
    return np.asarray(w / w.sum(), dtype=np.float64)


def member_scores(ratings: ArrayLike, *, competence_weights: ArrayLike | None = None) -> FloatArray:
    """Each member's overall rating of each candidate: the weighted mean over the competences.

    Parameters
    ----------
    ratings : array_like, shape (N, R, Q)
        Candidates x members x competences; NaN for a rating not given.
    competence_weights : array_like, shape (Q,), optional
        Relative weights of the competences (normalised to sum to 1); equal by default.

    Returns
    -------
    ndarray, shape (N, R)
        ``s_ir = sum_q w_q x_irq``. NaN when member r did not rate candidate i on every competence: a member
        who rated only some competences is treated as not having rated that candidate, so that every
        overall rating is on the same mix of competences.
    """
    x = _panel_array(ratings)
    w = _competence_weights(competence_weights, x.shape[2])
    complete = ~np.isnan(x).any(axis=2)
    scores = np.einsum("irq,q->ir", np.where(np.isnan(x), 0.0, x), w)
    return np.where(complete, scores, np.nan)


@dataclass(frozen=True)
class PanelAgreement:
    """Agreement between commission members, per competence and on the overall rating.

    Attributes
    ----------
    competences : tuple of str
        Competence names, in the order of the ratings' last axis.
    by_competence : dict of str to ICCResult or None
        ICCs of the candidates x members ratings of each competence; None when fewer than two candidates
        were rated by every member on it.
    overall : ICCResult or None
        ICCs of the members' overall ratings (:func:`member_scores`); None likewise.
    """

    competences: tuple[str, ...]
    by_competence: dict[str, ICCResult | None]
    overall: ICCResult | None


def _icc_or_none(matrix: FloatArray, level: float) -> ICCResult | None:
    n_complete = int((~np.isnan(matrix).any(axis=1)).sum())
    if n_complete < 2 or matrix.shape[1] < 2:
        return None
    try:
        return icc(matrix, level=level)
    except ValueError:
        return None  # the ratings do not vary: nothing to report


def panel_agreement(
    ratings: ArrayLike,
    competences: Sequence[str],
    *,
    competence_weights: ArrayLike | None = None,
    level: float = 0.95,
) -> PanelAgreement:
    """Intraclass correlations between commission members, per competence and overall.

    Parameters
    ----------
    ratings : array_like, shape (N, R, Q)
        Candidates x members x competences; NaN for a rating not given.
    competences : sequence of str, length Q
        Competence names.
    competence_weights : array_like, shape (Q,), optional
        As in :func:`member_scores`, for the overall rating.
    level : float
        Confidence level of the ICC intervals.

    Returns
    -------
    PanelAgreement
    """
    _check_level(level)
    x = _panel_array(ratings)
    names = tuple(competences)
    if len(names) != x.shape[2]:
        msg = f"got {len(names)} competence names for {x.shape[2]} competences in the ratings: {names}"
        raise ValueError(msg)
    by_competence = {name: _icc_or_none(x[:, :, q], level) for q, name in enumerate(names)}
    overall = _icc_or_none(member_scores(x, competence_weights=competence_weights), level)
    return PanelAgreement(competences=names, by_competence=by_competence, overall=overall)


SE_METHODS = ("pooled", "consistency", "candidate")
"""How :func:`interview_stage` estimates the error variance of one member's rating (see its Notes)."""


def interview_stage(
    ratings: ArrayLike,
    candidate_ids: Sequence[str],
    *,
    name: str = "interview",
    competence_weights: ArrayLike | None = None,
    se_method: str = "pooled",
) -> StageScores:
    """The interview as a composite stage: each candidate's mean rating, its SE and the panel's reliability.

    Parameters
    ----------
    ratings : array_like, shape (N, R, Q)
        Candidates x members x competences; NaN for a rating not given (e.g. a member who declared a
        conflict of interest, or a candidate not interviewed yet).
    candidate_ids : sequence of str, length N
    name : str
        Stage name.
    competence_weights : array_like, shape (Q,), optional
        Relative competence weights for each member's overall rating (:func:`member_scores`).
    se_method : {"pooled", "consistency", "candidate"}
        How the error variance ``sigma_e^2`` of one member's overall rating is estimated (Notes).

    Returns
    -------
    StageScores
        ``scores[i] = mean_r s_ir`` over the ``m_i`` members who rated candidate i (NaN when none did, so
        the candidate gets no composite yet); ``se[i] = sqrt(sigma_e^2 / m_i)``; ``reliability`` the
        panel's ICC(2,k) (ICC(3,k) for ``"consistency"``), clipped to [0, 1].

    Notes
    -----
    The panel's ANOVA (:func:`icc`) is run on the candidates every member rated; ``s_ir`` are the members'
    overall ratings (:func:`member_scores`).

    * ``"pooled"`` (default): the between-member variance of a candidate's ratings, pooled over candidates,
      ``sigma_e^2 = MSW = MSE + (MSC - MSE) / n``: residual plus member-leniency variance, the
      absolute-agreement error that goes with ICC(2,k). One value for the whole panel, because with three
      to seven members a per-candidate variance is very noisy, and a unanimous panel would get SE 0 -- the
      false precision the product refuses to show. Right when candidates are rated by different members
      (recusals, several panels); conservative when one panel rates everybody, since a leniency shared by
      all candidates does not change their order.
    * ``"consistency"``: ``sigma_e^2 = MSE``, leniency removed, with ICC(3,k) as the reliability: for one
      fixed panel that rates every candidate.
    * ``"candidate"``: this candidate's own between-member variance, ``sigma_e^2 = var_r(s_ir)``
      (``ddof = 1``); NaN SE when fewer than two members rated the candidate.

    The reliability describes the full panel of R members; a candidate rated by fewer members has a larger
    SE, which the per-candidate SE carries into the composite.

    Raises
    ------
    ValueError
        Fewer than two members or than two candidates rated by every member (the panel's ICC cannot be
        computed), an unknown ``se_method``, or bad shapes.
    """
    if se_method not in SE_METHODS:
        msg = f"se_method must be one of {SE_METHODS}, got {se_method!r}"
        raise ValueError(msg)
    x = _panel_array(ratings)
    ids = tuple(candidate_ids)
    if len(ids) != x.shape[0]:
        msg = f"got {len(ids)} candidate ids for {x.shape[0]} candidates in the ratings"
        raise ValueError(msg)
    s = member_scores(x, competence_weights=competence_weights)  # (N, R)
    rated = ~np.isnan(s)
    m = rated.sum(axis=1)
    complete = m == s.shape[1]
    if int(complete.sum()) < 2 or s.shape[1] < 2:
        msg = (
            f"stage {name!r}: the panel's agreement needs at least 2 members and 2 candidates rated by every "
            f"member on every competence, got {s.shape[1]} member(s) and {int(complete.sum())} candidate(s)"
        )
        raise ValueError(msg)
    panel = icc(s[complete])
    filled = np.where(rated, s, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(m > 0, filled.sum(axis=1) / m, np.nan)
        if se_method == "candidate":
            squares = np.where(rated, (s - scores[:, None]) ** 2, 0.0).sum(axis=1)
            se = np.where(m > 1, np.sqrt(squares / (m - 1) / m), np.nan)
        else:
            error_variance = panel.ms_within if se_method == "pooled" else panel.ms_error
            se = np.where(m > 0, np.sqrt(error_variance / m), np.nan)
    reliability = panel.icc3k.value if se_method == "consistency" else panel.icc2k.value
    return StageScores(
        name=name,
        candidate_ids=ids,
        scores=scores,
        se=np.where(np.isnan(scores), np.nan, se),
        # NaN (no variation at all) leaves the reliability to be estimated from the SEs
        reliability=float(np.clip(reliability, 0.0, 1.0)) if not np.isnan(reliability) else None,
    )
