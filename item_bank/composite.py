"""The multi-stage compensatory composite with its measurement error: standardise, weight, band, rank, cut.

Nobody is eliminated between stages. Each stage (legal-knowledge test, situational-judgement test, competency
interview, a rater-scored written case analysis, ...) gives every candidate a score on its own scale with a
standard error; this module puts the stages on one footing, combines them with the published weights, carries
the error through, and ranks the candidates with bands instead of false precision.

The chain, for candidate i and stage k (K stages, weights ``w_k``)::

    z_ik   = (x_ik - m_k) / s_k                     standardised score (:func:`standardise`)
    se_ik' = se_ik / s_k                            its SE on the same scale
    C_i    = sum_k w_k z_ik                         composite, with sum_k w_k = 1 (:func:`composite`)
    SE_i   = sqrt(sum_k w_k^2 se_ik'^2)             composite SE (stage errors independent)
    band_i = C_i -+ z_(1+level)/2 SE_i              confidence band (95 % by default)

followed by the rank range implied by the bands, the composite's reliability (Mosier, 1943), and, at a cut,
which candidates are distinguishable from it and how consistent the decisions would be on a parallel
measurement (:func:`cut_analysis`). An optional minimum per stage is off in the product;
:func:`minimum_screen` only reports whom it would remove.

Conventions

* Variances are population variances (``ddof = 0``): the campaign's candidates are the reference group
  themselves, not a sample of one, so their standardised scores have mean 0 and SD 1 exactly.
* A missing score is NaN. A stage is standardised over the candidates who have its score; a candidate missing
  any stage gets no composite and no rank, with the reason in the trace (a candidate who has not sat a stage
  yet is not compensated for by the others).
* Every number is traceable: :meth:`CompositeResult.trace` gives, per candidate and stage, the raw score and
  SE, the mean and SD used, the z-score, the declared and normalised weights and the contribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "CandidateTrace",
    "CompositeResult",
    "CutAnalysis",
    "MinimumScreen",
    "StageContribution",
    "StageScores",
    "StandardisedStage",
    "composite",
    "critical_value",
    "cut_analysis",
    "decision_consistency",
    "estimate_reliability",
    "minimum_screen",
    "rank_ranges",
    "standardise",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

DEFAULT_LEVEL = 0.95
"""Default confidence level of the bands."""


def _readonly(array: NDArray[Any]) -> NDArray[Any]:
    array.setflags(write=False)
    return array


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        msg = f"level must be strictly between 0 and 1, got {level!r}"
        raise ValueError(msg)


def critical_value(level: float = DEFAULT_LEVEL) -> float:
    """Two-sided normal critical value ``z = Phi^-1((1 + level) / 2)`` (1.959964 for 0.95)."""
    _check_level(level)
    return float(stats.norm.ppf(0.5 + level / 2.0))


# ---------------------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StageScores:
    """One stage's scores of the campaign's candidates, on the stage's own scale; validated, immutable.

    Attributes
    ----------
    name : str
        Stage name (unique within a composite), e.g. ``"knowledge"``, ``"sjt"``, ``"interview"``.
    candidate_ids : tuple of str, length N
        Unique candidate identifiers.
    scores : ndarray, shape (N,)
        Scores on the stage's scale (theta on the bank scale, a mean rating, ...); NaN for a candidate who has
        no score (yet).
    se : ndarray, shape (N,)
        Conditional standard error of measurement of each score (an IRT SE, a rater-based SE, ...), finite and
        non-negative wherever the score is present; set to NaN where the score is missing.
    reliability : float, optional
        The stage's reliability in this campaign, in [0, 1]. When None, :func:`estimate_reliability` estimates
        it from the scores and SEs.
    scale_mean, scale_sd : float, optional
        A fixed reference for standardising (e.g. 0 and 1 on a bank scale defined by its calibration
        population), both or neither. By default the reference group is the campaign's candidates.

    Raises
    ------
    ValueError
        Naming the stage, the field and the offending candidate or value.
    """

    name: str
    candidate_ids: tuple[str, ...]
    scores: FloatArray
    se: FloatArray
    reliability: float | None = None
    scale_mean: float | None = None
    scale_sd: float | None = None

    def __post_init__(self) -> None:
        name = str(self.name)
        if not name:
            msg = "stage name must not be empty"
            raise ValueError(msg)
        ids = tuple(str(c) for c in self.candidate_ids)
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup = next(c for c in ids if c in seen or seen.add(c))  # type: ignore[func-returns-value]
            msg = f"stage {name!r}: candidate {dup!r} appears more than once"
            raise ValueError(msg)
        scores = np.array(self.scores, dtype=np.float64).reshape(-1)
        se = np.array(self.se, dtype=np.float64).reshape(-1)
        for field_name, length in (("scores", scores.shape[0]), ("se", se.shape[0])):
            if length != len(ids):
                msg = f"stage {name!r}: field {field_name!r} has {length} entries for {len(ids)} candidates"
                raise ValueError(msg)
        if np.isinf(scores).any():
            i = int(np.flatnonzero(np.isinf(scores))[0])
            value = float(scores[i])
            msg = f"stage {name!r}: candidate {ids[i]!r} has score {value!r}; scores must be finite or NaN"
            raise ValueError(msg)
        present = ~np.isnan(scores)
        bad = present & ~(np.isfinite(se) & (se >= 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = float(se[i])
            msg = (
                f"stage {name!r}: candidate {ids[i]!r} has a score but SE {value!r}; it must be finite, >= 0"
            )
            raise ValueError(msg)
        se = np.where(present, se, np.nan)
        reliability = self.reliability
        if reliability is not None:
            reliability = float(reliability)
            if not 0.0 <= reliability <= 1.0:
                msg = f"stage {name!r}: reliability must be in [0, 1], got {reliability!r}"
                raise ValueError(msg)
        if (self.scale_mean is None) != (self.scale_sd is None):
            msg = (
                f"stage {name!r}: give both scale_mean and scale_sd or neither, "
                f"got {self.scale_mean!r} and {self.scale_sd!r}"
            )
            raise ValueError(msg)
        scale_mean = scale_sd = None
        if self.scale_mean is not None and self.scale_sd is not None:
            scale_mean, scale_sd = float(self.scale_mean), float(self.scale_sd)
            if not (np.isfinite(scale_mean) and np.isfinite(scale_sd) and scale_sd > 0):
                msg = (
                    f"stage {name!r}: scale_mean must be finite and scale_sd > 0, "
                    f"got {scale_mean!r} and {scale_sd!r}"
                )
                raise ValueError(msg)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "candidate_ids", ids)
        object.__setattr__(self, "scores", _readonly(scores))
        object.__setattr__(self, "se", _readonly(se))
        object.__setattr__(self, "reliability", reliability)
        object.__setattr__(self, "scale_mean", scale_mean)
        object.__setattr__(self, "scale_sd", scale_sd)

    @property
    def scored(self) -> BoolArray:
        """Mask, shape (N,), of the candidates with a score."""
        return ~np.isnan(self.scores)


def estimate_reliability(stage: StageScores) -> float:
    """The stage's reliability estimated from its scores and SEs: true over observed variance.

    ``r = 1 - mean(se^2) / var(x)`` over the candidates with a score (``var`` with ``ddof = 0``), clipped to
    [0, 1]: the mean squared conditional SEM is the error variance, and ``var(x) - mean(se^2)`` the true-score
    variance.

    Returns
    -------
    float
        NaN when fewer than two candidates have a score or the scores do not vary.

    Notes
    -----
    This is right for scores whose error is additive and unbiased (ML or WLE thetas, rater means). EAP
    thetas are shrunk towards the prior mean, so their variance is already smaller than the true-score
    variance and the formula underestimates; for EAP pass the empirical reliability
    ``var(theta_hat) / (var(theta_hat) + mean(se^2))`` (:func:`item_bank.irt.scoring.empirical_reliability`)
    or the marginal reliability as ``StageScores.reliability``.
    """
    x = stage.scores[stage.scored]
    if x.shape[0] < 2:
        return float("nan")
    var = float(np.var(x))
    if var <= 0.0:
        return float("nan")
    return min(max(1.0 - float(np.mean(stage.se[stage.scored] ** 2)) / var, 0.0), 1.0)


@dataclass(frozen=True, eq=False)
class StandardisedStage:
    """A stage's scores on the standardised scale.

    Attributes
    ----------
    name : str
    candidate_ids : tuple of str, length N
    z : ndarray, shape (N,)
        ``(x - mean) / sd``; NaN where the score is missing.
    se : ndarray, shape (N,)
        ``se_x / sd``.
    mean, sd : float
        The reference used.
    reference : {"campaign", "scale"}
        ``"campaign"``: mean and population SD of this campaign's scored candidates; ``"scale"``: the fixed
        ``scale_mean``/``scale_sd`` of the :class:`StageScores`.
    reliability : float
        The stage's reliability (given, or estimated by :func:`estimate_reliability`; NaN if not estimable).
    reliability_estimated : bool
        True when it was estimated.
    n_scored : int
        Candidates with a score.
    """

    name: str
    candidate_ids: tuple[str, ...]
    z: FloatArray
    se: FloatArray
    mean: float
    sd: float
    reference: str
    reliability: float
    reliability_estimated: bool
    n_scored: int


def standardise(stage: StageScores) -> StandardisedStage:
    """Put a stage on the standard scale: ``z = (x - mean) / sd`` and ``se_z = se / sd``.

    Parameters
    ----------
    stage : StageScores

    Returns
    -------
    StandardisedStage

    Notes
    -----
    The reference group is the campaign's candidates with a score in this stage: ``mean`` is their mean and
    ``sd`` their population SD (``ddof = 0``). When the stage gives ``scale_mean`` and ``scale_sd`` (e.g. the
    bank scale's 0 and 1, fixed by the calibration population), those are used instead, so that scores stay
    comparable across campaigns. The SE is divided by the same ``sd``: standardising is a linear change of
    scale and the error scales with it. The mean and SD are treated as known constants; their own sampling
    error (small next to the individual SEs for a campaign of dozens of candidates or more) is ignored.

    Raises
    ------
    ValueError
        Standardising on the campaign with fewer than two scored candidates or scores that do not vary.
    """
    scored = stage.scored
    n_scored = int(scored.sum())
    if stage.scale_mean is not None and stage.scale_sd is not None:
        mean, sd, reference = stage.scale_mean, stage.scale_sd, "scale"
    else:
        if n_scored < 2:
            msg = (
                f"stage {stage.name!r}: standardising needs 2 or more candidates with a score, got {n_scored}"
            )
            raise ValueError(msg)
        mean = float(np.mean(stage.scores[scored]))
        sd = float(np.std(stage.scores[scored]))
        reference = "campaign"
        if sd <= 0.0:
            msg = (
                f"stage {stage.name!r}: all {n_scored} scores equal {mean!r}; "
                "a stage that does not vary cannot be standardised"
            )
            raise ValueError(msg)
    if stage.reliability is None:
        reliability, estimated = estimate_reliability(stage), True
    else:
        reliability, estimated = stage.reliability, False
    return StandardisedStage(
        name=stage.name,
        candidate_ids=stage.candidate_ids,
        z=_readonly((stage.scores - mean) / sd),
        se=_readonly(stage.se / sd),
        mean=mean,
        sd=sd,
        reference=reference,
        reliability=reliability,
        reliability_estimated=estimated,
        n_scored=n_scored,
    )


# ---------------------------------------------------------------------------------------------------------
# The composite
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageContribution:
    """How one stage enters one candidate's composite (all the numbers of the trace).

    Attributes
    ----------
    stage : str
    score, se : float or None
        Raw score and SE on the stage's scale; None when the candidate has no score in the stage.
    mean, sd : float
        Standardising reference of the stage (see :attr:`StandardisedStage.reference`).
    z, se_z : float or None
        ``(score - mean) / sd`` and ``se / sd``.
    declared_weight, weight : float
        The published weight and the normalised one (``declared / sum of declared``).
    contribution : float or None
        ``weight * z``: the composite is the sum of these.
    error_variance : float or None
        ``weight^2 * se_z^2``: the composite's squared SE is the sum of these.
    """

    stage: str
    score: float | None
    se: float | None
    mean: float
    sd: float
    z: float | None
    se_z: float | None
    declared_weight: float
    weight: float
    contribution: float | None
    error_variance: float | None


@dataclass(frozen=True)
class CandidateTrace:
    """One candidate's composite with everything it was computed from.

    Attributes
    ----------
    candidate_id : str
    composite, se, lower, upper : float or None
        Composite, its SE and its band; None when it was not computed.
    rank, best_rank, worst_rank : int or None
        Rank (1 = highest composite) and the range implied by the bands; None when not ranked.
    contributions : tuple of StageContribution
        One per stage, in the order of :attr:`CompositeResult.stage_names`.
    reason : str or None
        Why the composite was not computed (a missing stage), else None.
    """

    candidate_id: str
    composite: float | None
    se: float | None
    lower: float | None
    upper: float | None
    rank: int | None
    best_rank: int | None
    worst_rank: int | None
    contributions: tuple[StageContribution, ...]
    reason: str | None


@dataclass(frozen=True, eq=False)
class CompositeResult:
    """The composite of N candidates over K stages.

    Attributes
    ----------
    candidate_ids : tuple of str, length N
        Every candidate of any stage, in order of first appearance.
    stage_names : tuple of str, length K
    declared_weights, weights : ndarray, shape (K,)
        Weights as given, and normalised to sum to 1.
    level : float
        Confidence level of the bands.
    critical : float
        ``Phi^-1((1 + level) / 2)``, the band's half-width in SEs.
    computed : ndarray of bool, shape (N,)
        Candidates with every stage, who get a composite and a rank.
    composite, se, lower, upper : ndarray, shape (N,)
        Composite, SE and band; NaN where not computed.
    rank, best_rank, worst_rank : ndarray of int, shape (N,)
        Rank and rank range among the computed candidates (:func:`rank_ranges`); 0 where not computed.
    reasons : dict of str to str
        Candidate id to the reason the composite was not computed.
    stages : tuple of StandardisedStage, length K
        The standardised stages (reference mean and SD, reliability used).
    stage_covariance : ndarray, shape (K, K)
        Covariance (``ddof = 0``) of the standardised stage scores over the computed candidates.
    stage_correlations : ndarray, shape (K, K)
        The corresponding correlations.
    variance : float
        Variance of the composite over the computed candidates, ``w' S w``.
    reliability : float
        Mosier's (1943) composite reliability (see :func:`composite`); NaN when not estimable.
    scores, stage_se : ndarray, shape (N, K)
        Raw stage scores and SEs aligned to ``candidate_ids`` (NaN: no score).
    z, z_se : ndarray, shape (N, K)
        Standardised stage scores and SEs.
    """

    candidate_ids: tuple[str, ...]
    stage_names: tuple[str, ...]
    declared_weights: FloatArray
    weights: FloatArray
    level: float
    critical: float
    computed: BoolArray
    composite: FloatArray
    se: FloatArray
    lower: FloatArray
    upper: FloatArray
    rank: IntArray
    best_rank: IntArray
    worst_rank: IntArray
    reasons: dict[str, str]
    stages: tuple[StandardisedStage, ...]
    stage_covariance: FloatArray
    stage_correlations: FloatArray
    variance: float
    reliability: float
    scores: FloatArray
    stage_se: FloatArray
    z: FloatArray
    z_se: FloatArray

    @property
    def n_ranked(self) -> int:
        """Number of candidates with a composite."""
        return int(self.computed.sum())

    def trace(self, candidate_id: str) -> CandidateTrace:
        """Everything one candidate's composite was computed from (built on demand).

        Raises
        ------
        KeyError
            Unknown candidate.
        """
        try:
            i = self.candidate_ids.index(candidate_id)
        except ValueError:
            msg = f"candidate {candidate_id!r} is in none of the stages {self.stage_names}"
            raise KeyError(msg) from None
        contributions = tuple(
            StageContribution(
                stage=name,
                score=_opt(self.scores[i, j]),
                se=_opt(self.stage_se[i, j]),
                mean=stage.mean,
                sd=stage.sd,
                z=_opt(self.z[i, j]),
                se_z=_opt(self.z_se[i, j]),
                declared_weight=float(self.declared_weights[j]),
                weight=float(self.weights[j]),
                contribution=_opt(self.weights[j] * self.z[i, j]),
                error_variance=_opt(self.weights[j] ** 2 * self.z_se[i, j] ** 2),
            )
            for j, (name, stage) in enumerate(zip(self.stage_names, self.stages, strict=True))
        )
        ranked = bool(self.computed[i])
        return CandidateTrace(
            candidate_id=candidate_id,
            composite=_opt(self.composite[i]),
            se=_opt(self.se[i]),
            lower=_opt(self.lower[i]),
            upper=_opt(self.upper[i]),
            rank=int(self.rank[i]) if ranked else None,
            best_rank=int(self.best_rank[i]) if ranked else None,
            worst_rank=int(self.worst_rank[i]) if ranked else None,
            contributions=contributions,
            reason=self.reasons.get(candidate_id),
        )

    def traces(self) -> tuple[CandidateTrace, ...]:
        """The traces of all N candidates, in the order of ``candidate_ids``."""
        return tuple(self.trace(c) for c in self.candidate_ids)


def rank_ranges(
    composite: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[IntArray, IntArray, IntArray]:
    """Ranks (1 = highest) and the range of ranks compatible with the confidence bands.

    Parameters
    ----------
    composite, lower, upper : array_like, shape (M,)
        Composites and their band bounds (``lower <= composite <= upper``), all finite.

    Returns
    -------
    rank, best, worst : ndarray of int, shape (M,)
        ``rank_i = 1 + #{j : C_j > C_i}`` (ties share the better rank, "1224" ranking);
        ``best_i = 1 + #{j : lower_j > upper_i}``: only candidates whose whole band lies above this one's
        must rank ahead; ``worst_i = M - #{j : upper_j < lower_i}``: only those whose band lies wholly below
        must rank behind.

    Notes
    -----
    ``best <= rank <= worst`` always: ``lower_j > upper_i`` implies ``C_j > C_i``, and ``C_j > C_i`` implies
    ``upper_j >= lower_i``. Candidates with equal composites and SEs share the same range. Non-overlap of two
    individual 95 % bands is a stricter criterion than a 5 % test of their difference (it needs
    ``|C_i - C_j| > z (SE_i + SE_j)`` rather than ``z sqrt(SE_i^2 + SE_j^2)``), so the ranges are
    conservative: they never claim a difference the bands do not support. Computed by sorting,
    O(M log M).
    """
    c = np.asarray(composite, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    m = c.shape[0]
    if lo.shape != c.shape or hi.shape != c.shape or c.ndim != 1:
        msg = f"composite, lower and upper must be 1-D of one shape, got {c.shape}, {lo.shape}, {hi.shape}"
        raise ValueError(msg)
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        msg = "composite, lower and upper must be finite (rank only the candidates with a composite)"
        raise ValueError(msg)
    c_sorted, lo_sorted, hi_sorted = np.sort(c), np.sort(lo), np.sort(hi)
    rank = 1 + (m - np.searchsorted(c_sorted, c, side="right"))
    best = 1 + (m - np.searchsorted(lo_sorted, hi, side="right"))
    worst = m - np.searchsorted(hi_sorted, lo, side="left")
    return rank.astype(np.int64), best.astype(np.int64), worst.astype(np.int64)


def _normalised_weights(names: Sequence[str], weights: Mapping[str, float]) -> tuple[FloatArray, FloatArray]:
    given = set(weights)
    expected = set(names)
    if given != expected:
        msg = (
            f"weights must name exactly the stages {sorted(expected)}; "
            f"missing {sorted(expected - given)}, unknown {sorted(given - expected)}"
        )
        raise ValueError(msg)
    declared = np.array([float(weights[n]) for n in names], dtype=np.float64)
    if not np.all(np.isfinite(declared)) or np.any(declared <= 0):
        msg = (
            f"weights must be finite and > 0 (leave a stage out rather than weigh it 0), "
            f"got {dict(zip(names, declared.tolist(), strict=True))}"
        )
        raise ValueError(msg)
    return declared, declared / declared.sum()


def _align(values: FloatArray, stage_ids: tuple[str, ...], ids: tuple[str, ...]) -> FloatArray:
    """``values`` (one per ``stage_ids``) reordered to ``ids``; NaN for a candidate not in ``stage_ids``."""
    position = {c: i for i, c in enumerate(stage_ids)}
    index = np.array([position.get(c, -1) for c in ids], dtype=np.int64)
    return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)


def _opt(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def composite(
    stages: Sequence[StageScores], weights: Mapping[str, float], *, level: float = DEFAULT_LEVEL
) -> CompositeResult:
    """Combine the stages into the weighted composite with SEs, bands, ranks and rank ranges.

    Parameters
    ----------
    stages : sequence of StageScores, length K
        Stages with unique names. Candidates are matched by id; one absent from a stage has no score in it.
    weights : mapping of stage name to float
        The published weights, one per stage, > 0. They are normalised to sum to 1 (``w_k = v_k / sum v``),
        which leaves the ranking unchanged and keeps the composite on the scale of a standard score.
    level : float
        Confidence level of the bands.

    Returns
    -------
    CompositeResult

    Notes
    -----
    With ``Z`` (N, K) the standardised scores and ``E`` (N, K) their SEs (:func:`standardise`)::

        C   = Z w                                       (N,)
        SE  = sqrt((E ** 2) (w ** 2))                   (N,)
        band = C -+ z SE,  z = Phi^-1((1 + level) / 2)

    The SE formula assumes the measurement errors of different stages are independent for a candidate
    (different instruments, items and raters); correlated errors (e.g. one rater marking two stages) would
    make it too small. The band assumes normal errors.

    Composite reliability, Mosier (1943), with ``S`` (K, K) the observed covariance of the standardised stage
    scores over the candidates with a composite, ``s_k^2 = S_kk`` and ``r_k`` the stage reliabilities::

        var(C) = w' S w
        rel(C) = 1 - sum_k w_k^2 s_k^2 (1 - r_k) / var(C)

    ``s_k^2 (1 - r_k)`` is stage k's error variance; errors independent across stages, as above. The
    observed correlations between stages enter through ``var(C)``: the more the stages agree, the larger the
    true-score share of the composite.

    Raises
    ------
    ValueError
        No stages, duplicate stage names, weights not matching the stages or not positive, a bad level,
        or a stage that cannot be standardised.
    """
    _check_level(level)
    if not stages:
        msg = "composite needs at least one stage"
        raise ValueError(msg)
    names = tuple(s.name for s in stages)
    if len(set(names)) != len(names):
        msg = f"stage names must be unique, got {names}"
        raise ValueError(msg)
    declared, w = _normalised_weights(names, weights)
    standardised = tuple(standardise(s) for s in stages)
    ids = tuple(dict.fromkeys(c for s in stages for c in s.candidate_ids))
    n, k = len(ids), len(stages)
    z = np.empty((n, k))
    e = np.empty((n, k))
    raw = np.empty((n, k))
    raw_se = np.empty((n, k))
    for j, (stage, std) in enumerate(zip(stages, standardised, strict=True)):
        z[:, j] = _align(std.z, std.candidate_ids, ids)
        e[:, j] = _align(std.se, std.candidate_ids, ids)
        raw[:, j] = _align(stage.scores, stage.candidate_ids, ids)
        raw_se[:, j] = _align(stage.se, stage.candidate_ids, ids)
    computed: BoolArray = np.asarray(~np.isnan(z).any(axis=1), dtype=np.bool_)
    crit = critical_value(level)

    comp = np.full(n, np.nan)
    se = np.full(n, np.nan)
    comp[computed] = z[computed] @ w
    se[computed] = np.sqrt((e[computed] ** 2) @ (w**2))
    lower, upper = comp - crit * se, comp + crit * se
    rank = np.zeros(n, dtype=np.int64)
    best = np.zeros(n, dtype=np.int64)
    worst = np.zeros(n, dtype=np.int64)
    if computed.any():
        rank[computed], best[computed], worst[computed] = rank_ranges(
            comp[computed], lower[computed], upper[computed]
        )

    reliabilities = np.array([s.reliability for s in standardised])
    if int(computed.sum()) >= 2:
        zc = z[computed]
        cov = np.atleast_2d(np.cov(zc, rowvar=False, ddof=0))
        variance = float(w @ cov @ w)
        sds = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.outer(sds, sds)
            reliability = 1.0 - float(np.sum(w**2 * np.diag(cov) * (1.0 - reliabilities))) / variance
    else:
        cov = np.full((k, k), np.nan)
        corr = np.full((k, k), np.nan)
        variance = reliability = float("nan")

    reasons = {
        ids[i]: "no score in stage "
        + ", ".join(repr(names[j]) for j in np.flatnonzero(np.isnan(z[i])))
        + ": composite not computed"
        for i in np.flatnonzero(~computed)
    }

    return CompositeResult(
        candidate_ids=ids,
        stage_names=names,
        declared_weights=_readonly(declared),
        weights=_readonly(w),
        level=level,
        critical=crit,
        computed=_readonly(computed),
        composite=_readonly(comp),
        se=_readonly(se),
        lower=_readonly(lower),
        upper=_readonly(upper),
        rank=_readonly(rank),
        best_rank=_readonly(best),
        worst_rank=_readonly(worst),
        reasons=reasons,
        stages=standardised,
        stage_covariance=_readonly(cov),
        stage_correlations=_readonly(corr),
        variance=variance,
        reliability=reliability,
        scores=_readonly(raw),
        stage_se=_readonly(raw_se),
        z=_readonly(z),
        z_se=_readonly(e),
    )


# ---------------------------------------------------------------------------------------------------------
# Decisions at a cut
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CutAnalysis:
    """Who is distinguishable from a cut on the composite, and how consistent the decisions are.

    Attributes
    ----------
    cut : float
        The cut on the composite; a candidate with ``C >= cut`` is selected.
    places : int or None
        The number of places to fill, when the cut was derived from it.
    level : float
        Confidence level of the bands used for "clearly above/below".
    candidate_ids : tuple of str, length M
        The ranked candidates, best first (ties in the result's order).
    composite, se : ndarray, shape (M,)
    selected : tuple of str
        ``C >= cut``, best first. With ties at the cut it can hold more than ``places`` candidates.
    clearly_above, clearly_below, not_distinguishable : tuple of str
        Band wholly above the cut (``lower > cut``), wholly below (``upper < cut``), or containing it.
    not_ranked : tuple of str
        Candidates without a composite (see :attr:`CompositeResult.reasons`).
    consistency : ndarray, shape (M,)
        Probability that a parallel measurement puts the candidate on the same side of the cut.
    expected_consistency : float
        Mean of ``consistency``: the expected proportion of consistent decisions.
    agreement_table : ndarray, shape (2, 2)
        Expected proportions, rows the observed decision (selected, not), columns the parallel one.
    chance_agreement : float
        ``p_1 p_2 + (1 - p_1)(1 - p_2)`` from the table's margins.
    kappa : float
        Cohen's kappa of the table, ``(P - P_chance) / (1 - P_chance)``; NaN when ``P_chance = 1``.
    """

    cut: float
    places: int | None
    level: float
    candidate_ids: tuple[str, ...]
    composite: FloatArray
    se: FloatArray
    selected: tuple[str, ...]
    clearly_above: tuple[str, ...]
    clearly_below: tuple[str, ...]
    not_distinguishable: tuple[str, ...]
    not_ranked: tuple[str, ...]
    consistency: FloatArray
    expected_consistency: float
    agreement_table: FloatArray
    chance_agreement: float
    kappa: float

    def status(self, candidate_id: str) -> str:
        """``"above"``, ``"below"``, ``"not distinguishable"`` or ``"not ranked"`` for one candidate."""
        for label, group in (
            ("above", self.clearly_above),
            ("below", self.clearly_below),
            ("not distinguishable", self.not_distinguishable),
            ("not ranked", self.not_ranked),
        ):
            if candidate_id in group:
                return label
        msg = f"candidate {candidate_id!r} is not in this analysis"
        raise KeyError(msg)


def decision_consistency(composite: ArrayLike, se: ArrayLike, cut: float) -> FloatArray:
    """Per-candidate probability that a parallel measurement falls on the same side of the cut.

    ``P_i = Phi(|C_i - cut| / (sqrt(2) SE_i))`` (``P_i = 1`` for ``SE_i = 0`` off the cut, 0.5 on it).

    Parameters
    ----------
    composite, se : array_like, shape (M,)
    cut : float

    Returns
    -------
    ndarray, shape (M,)

    Notes
    -----
    Parallel-form reasoning: two parallel measurements of a candidate, ``X = T + e`` and ``X' = T + e'`` with
    independent normal errors of SD ``SE``, differ by ``e' - e ~ N(0, 2 SE^2)`` whatever ``T`` is, so given
    the observed ``X = C`` the parallel score is ``N(C, 2 SE^2)``. This conditions on the observed composite
    with no regression towards the group mean (a flat prior on ``T``); with a normal true-score distribution
    and reliability ``rho`` the exact conditional consistency is somewhat lower far from the mean of the
    group, and the mean over candidates is close (see the tests for the size of the difference).
    """
    c = np.asarray(composite, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    distance = np.abs(c - cut)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(s > 0, distance / (np.sqrt(2.0) * s), np.where(distance > 0, np.inf, 0.0))
    return np.asarray(stats.norm.cdf(ratio), dtype=np.float64)


def cut_analysis(
    result: CompositeResult,
    cut: float | None = None,
    *,
    places: int | None = None,
    level: float | None = None,
) -> CutAnalysis:
    """Decisions at a cut: who is clearly above, clearly below or not distinguishable, and how consistent.

    Parameters
    ----------
    result : CompositeResult
    cut : float, optional
        A cut on the composite. Give either ``cut`` or ``places``.
    places : int, optional
        Number of places to fill: the cut is then the composite of the last selected, i.e. of the
        ``places``-th best candidate (so that candidate sits exactly on the cut, with consistency 0.5).
    level : float, optional
        Confidence level of the bands; the result's by default.

    Returns
    -------
    CutAnalysis

    Notes
    -----
    Clearly above: ``C - z SE > cut``; clearly below: ``C + z SE < cut``; otherwise the band contains the cut
    and the candidate is not distinguishable from it.

    Classification consistency, per candidate ``P_i`` of :func:`decision_consistency`, and the expected
    proportion of consistent decisions ``P = mean_i P_i``. The expected agreement table between the observed
    decision and a parallel one is::

        [[sum_{selected} P_i,        sum_{selected} (1 - P_i)],
         [sum_{rejected} (1 - P_i),  sum_{rejected} P_i      ]] / M

    whose diagonal sums to ``P``; Cohen's kappa is ``(P - P_c) / (1 - P_c)`` with ``P_c`` the chance agreement
    from the table's margins. This follows the logic of Subkoviak's (1976) single-administration method
    (per-person consistency probabilities summed into an expected two-way table, kappa from its margins), with
    the composite's normal error model in place of Subkoviak's binomial one and the observed composite in
    place of a regressed true-score estimate. It is not the Livingston-Lewis (1995) procedure, which fits a
    four-parameter beta true-score distribution. Measurement errors are assumed normal and independent, and
    the SEs known.

    Raises
    ------
    ValueError
        Neither or both of ``cut`` and ``places``; ``places`` outside 1..M; a non-finite cut; no ranked
        candidate.
    """
    if (cut is None) == (places is None):
        msg = f"give exactly one of cut and places, got cut={cut!r}, places={places!r}"
        raise ValueError(msg)
    level = result.level if level is None else level
    crit = critical_value(level)
    ranked = np.flatnonzero(result.computed)
    m = ranked.shape[0]
    if m == 0:
        msg = "no candidate has a composite: nothing to cut"
        raise ValueError(msg)
    order = ranked[np.argsort(-result.composite[ranked], kind="stable")]
    c = result.composite[order]
    se = result.se[order]
    ids = tuple(result.candidate_ids[i] for i in order)
    if cut is not None:
        cut_value = float(cut)
        if not np.isfinite(cut_value):
            msg = f"cut must be finite, got {cut_value!r}"
            raise ValueError(msg)
    else:
        if places is None or not 1 <= places <= m:
            msg = f"places must be between 1 and the {m} ranked candidates, got {places!r}"
            raise ValueError(msg)
        cut_value = float(c[places - 1])

    selected = c >= cut_value
    above = c - crit * se > cut_value
    below = c + crit * se < cut_value
    p = decision_consistency(c, se, cut_value)
    table = (
        np.array(
            [
                [p[selected].sum(), (1.0 - p[selected]).sum()],
                [(1.0 - p[~selected]).sum(), p[~selected].sum()],
            ]
        )
        / m
    )
    agreement = float(np.trace(table))
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    chance = float(rows @ cols)
    kappa = (agreement - chance) / (1.0 - chance) if chance < 1.0 else float("nan")

    def pick(mask: BoolArray) -> tuple[str, ...]:
        return tuple(cid for cid, keep in zip(ids, mask, strict=True) if keep)

    return CutAnalysis(
        cut=cut_value,
        places=places,
        level=level,
        candidate_ids=ids,
        composite=_readonly(c.copy()),
        se=_readonly(se.copy()),
        selected=pick(selected),
        clearly_above=pick(above),
        clearly_below=pick(below),
        not_distinguishable=pick(~above & ~below),
        not_ranked=tuple(
            cid for cid, ok in zip(result.candidate_ids, result.computed, strict=True) if not ok
        ),
        consistency=_readonly(p),
        expected_consistency=float(p.mean()),
        agreement_table=_readonly(table),
        chance_agreement=chance,
        kappa=float(kappa),
    )


# ---------------------------------------------------------------------------------------------------------
# Optional minimum per stage (reporting only)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinimumScreen:
    """What per-stage minimums would do, if switched on (the product keeps them off by default).

    Attributes
    ----------
    minimums : dict of str to float
        Stage name to minimum, on the stage's own scale.
    n_candidates : int
        Candidates in any stage.
    removed_by_stage : dict of str to tuple of str
        Candidates scoring below each stage's minimum.
    removed : tuple of str
        Candidates below at least one minimum (in order of first appearance).
    within_error : tuple of str
        Those of ``removed`` whose every failed minimum lies inside their band (``x + z se >= minimum``):
        their removal could be measurement error alone.
    not_assessed : dict of str to tuple of str
        Candidates without a score in a stage that has a minimum (they cannot be screened yet).
    level : float
        Confidence level of the bands used for ``within_error``.
    """

    minimums: dict[str, float]
    n_candidates: int
    removed_by_stage: dict[str, tuple[str, ...]]
    removed: tuple[str, ...]
    within_error: tuple[str, ...]
    not_assessed: dict[str, tuple[str, ...]]
    level: float

    @property
    def n_removed(self) -> int:
        """How many candidates the minimums would remove."""
        return len(self.removed)


def minimum_screen(
    stages: Sequence[StageScores], minimums: Mapping[str, float], *, level: float = DEFAULT_LEVEL
) -> MinimumScreen:
    """How many and which candidates optional per-stage minimums would remove (reporting only).

    Parameters
    ----------
    stages : sequence of StageScores
    minimums : mapping of stage name to float
        Minimum score on the stage's own scale (a candidate scoring below it would be removed); stages
        without an entry have no minimum. Empty: nothing is removed.
    level : float
        Confidence level of the bands for :attr:`MinimumScreen.within_error`.

    Returns
    -------
    MinimumScreen

    Notes
    -----
    A minimum turns the compensatory composite into a partly conjunctive one: a strong candidate with one
    weak stage is lost. The screen shows the cost before anyone switches it on. A candidate with no score in
    a stage is not removed by it but listed under ``not_assessed``.

    Raises
    ------
    ValueError
        A minimum for an unknown stage, or a non-finite minimum.
    """
    crit = critical_value(level)
    by_name = {s.name: s for s in stages}
    if len(by_name) != len(stages):
        msg = f"stage names must be unique, got {[s.name for s in stages]}"
        raise ValueError(msg)
    unknown = sorted(set(minimums) - set(by_name))
    if unknown:
        msg = f"minimums name unknown stage(s) {unknown}; the stages are {sorted(by_name)}"
        raise ValueError(msg)
    mins = {name: float(v) for name, v in minimums.items()}
    bad = {name: v for name, v in mins.items() if not np.isfinite(v)}
    if bad:
        msg = f"minimums must be finite, got {bad}"
        raise ValueError(msg)
    ids = tuple(dict.fromkeys(c for s in stages for c in s.candidate_ids))
    removed_by_stage: dict[str, tuple[str, ...]] = {}
    not_assessed: dict[str, tuple[str, ...]] = {}
    explained: dict[str, bool] = {}  # candidate -> every failure so far within error
    for name, minimum in mins.items():
        stage = by_name[name]
        below = stage.scored & (stage.scores < minimum)
        removed_by_stage[name] = tuple(c for c, b in zip(stage.candidate_ids, below, strict=True) if b)
        aligned = _align(stage.scores, stage.candidate_ids, ids)
        not_assessed[name] = tuple(c for c, x in zip(ids, aligned, strict=True) if np.isnan(x))
        close = below & (stage.scores + crit * stage.se >= minimum)
        for c, b, near in zip(stage.candidate_ids, below, close, strict=True):
            if b:
                explained[c] = explained.get(c, True) and bool(near)
    removed = tuple(c for c in ids if c in explained)
    return MinimumScreen(
        minimums=mins,
        n_candidates=len(ids),
        removed_by_stage=removed_by_stage,
        removed=removed,
        within_error=tuple(c for c in removed if explained[c]),
        not_assessed=not_assessed,
        level=level,
    )
