"""Unidimensional item response models: probabilities, likelihoods, gradients and information.

All models use the logistic metric (no 1.702 scaling constant). Files and screens use the IRT form
(a, b, c, thresholds b1..bk); the slope-intercept form (a, d = -a*b) is used internally by the calibration.

Dichotomous models (two categories, 0 = wrong, 1 = right)::

    P(X = 1 | theta) = c + (1 - c) / (1 + exp(-a (theta - b)))

* ``"rasch"``: a = 1 (the latent variance carries the scale), c = 0;
* ``"1pl"``: one common a shared by all 1pl items of a calibration, c = 0;
* ``"2pl"``: a and b per item, c = 0;
* ``"3pl"``: a, b and the lower asymptote c per item.

Polytomous models (K_j categories 0..K_j-1, parameters ``b[j, :K_j-1]``):

* ``"grm"``, graded response model (Samejima): ``P*(X >= k) = 1 / (1 + exp(-a (theta - b_k)))`` for
  k = 1..K-1 with ordered thresholds b_1 < ... < b_{K-1}, and ``P(X = k) = P*(X >= k) - P*(X >= k+1)``;
* ``"gpcm"``, generalised partial credit (Muraki):
  ``P(X = k) = exp(sum_{v<=k} a (theta - b_v)) / sum_h exp(sum_{v<=h} a (theta - b_v))`` with step
  difficulties b_v (not necessarily ordered) and the empty sum for k = 0;
* ``"pcm"``, partial credit (Masters): the gpcm with a = 1.

Shapes used throughout: N persons, J items, Q ability points (``theta``), K_max = the largest number of
categories. Responses are integer arrays (N, J) with -1 for missing ("not presented" is not "wrong") and
0..K_j-1 for the observed category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, log_expit

__all__ = [
    "DICHOTOMOUS",
    "MISSING",
    "MODELS",
    "POLYTOMOUS",
    "UNIT_SLOPE_MODELS",
    "ItemParameters",
    "category_probabilities",
    "check_responses",
    "expected_score",
    "item_information",
    "log_likelihood",
    "log_likelihood_gradient",
    "random_item_parameters",
    "simulate_responses",
    "test_information",
]

DICHOTOMOUS: tuple[str, ...] = ("rasch", "1pl", "2pl", "3pl")
"""Models for items scored 0/1."""
POLYTOMOUS: tuple[str, ...] = ("grm", "gpcm", "pcm")
"""Models for items with two or more ordered categories."""
MODELS: tuple[str, ...] = DICHOTOMOUS + POLYTOMOUS
"""Every model name accepted by this package."""
UNIT_SLOPE_MODELS: tuple[str, ...] = ("rasch", "pcm")
"""Models whose slope is fixed at 1 when calibrated (the latent variance is estimated instead)."""

MISSING = -1
"""Response code for an item that was not presented or not answered."""

# Smallest probability used inside logarithms: keeps log-likelihoods finite for impossible categories
# (e.g. a GRM category squeezed to zero width) without changing any representable probability > 1e-300.
_TINY = 1e-300

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _family(model: str) -> str:
    """Return ``"dich"``, ``"grm"`` or ``"gpcm"``: the probability formula a model uses."""
    if model in DICHOTOMOUS:
        return "dich"
    if model == "grm":
        return "grm"
    return "gpcm"


def _readonly(array: NDArray[Any]) -> NDArray[Any]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class ItemParameters:
    """Parameters of J items in the IRT (a, b, c) form; immutable and validated on construction.

    Attributes
    ----------
    item_ids : tuple of str, length J
        Unique item identifiers.
    model : tuple of str, length J
        Model of each item, one of ``DICHOTOMOUS + POLYTOMOUS``.
    a : ndarray of float64, shape (J,)
        Discrimination (1.0 for rasch and pcm unless a common a was estimated).
    b : ndarray of float64, shape (J, K_max - 1)
        NaN-padded. Dichotomous: ``b[:, 0]`` is the difficulty. grm: ordered thresholds b1 < ... < bk.
        gpcm/pcm: step difficulties. Item j has ``n_categories[j] - 1`` leading finite entries.
    c : ndarray of float64, shape (J,)
        Lower asymptote (guessing), 0 except for 3pl items.

    Raises
    ------
    ValueError
        Naming the item and the field, for inconsistent lengths, unknown models, non-finite values,
        unordered grm thresholds, NaN gaps in ``b`` or ``c`` outside [0, 1) (or non-zero for non-3pl items).
    """

    item_ids: tuple[str, ...]
    model: tuple[str, ...]
    a: FloatArray
    b: FloatArray
    c: FloatArray

    def __post_init__(self) -> None:
        item_ids = tuple(str(i) for i in self.item_ids)
        model = tuple(str(m).lower() for m in self.model)
        a = np.array(self.a, dtype=np.float64).reshape(-1)
        b = np.array(self.b, dtype=np.float64)
        if b.ndim == 1:
            b = b.reshape(-1, 1)
        c = np.array(self.c, dtype=np.float64).reshape(-1)
        n = len(item_ids)
        if len(set(item_ids)) != n:
            seen: set[str] = set()
            dup = next(i for i in item_ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise ValueError(f"item {dup!r}: item_ids must be unique")
        for name, length in (("model", len(model)), ("a", a.shape[0]), ("b", b.shape[0]), ("c", c.shape[0])):
            if length != n:
                raise ValueError(f"field {name!r} has {length} entries but there are {n} item_ids")
        if b.ndim != 2 or (n > 0 and b.shape[1] < 1):
            raise ValueError(f"field 'b' must have shape (J, K_max - 1), got {b.shape}")
        for j, item in enumerate(item_ids):
            m = model[j]
            if m not in MODELS:
                raise ValueError(f"item {item!r}: model must be one of {MODELS}, got {m!r}")
            if not np.isfinite(a[j]):
                raise ValueError(f"item {item!r}: field 'a' must be finite, got {a[j]!r}")
            row = b[j]
            finite = np.isfinite(row)
            k = int(finite.sum())
            if np.isinf(row).any():
                raise ValueError(f"item {item!r}: field 'b' must be finite or NaN padding, got {list(row)}")
            if k == 0 or not finite[:k].all():
                raise ValueError(
                    f"item {item!r}: field 'b' needs its {max(k, 1)} value(s) first and NaN padding after, "
                    f"got {row.tolist()}"
                )
            if m in DICHOTOMOUS and k != 1:
                raise ValueError(f"item {item!r}: field 'b' of a {m} item must hold one difficulty, got {k}")
            # P*(X >= k) must fall with k: a*b_k increasing, i.e. b increasing for the usual a > 0.
            if m == "grm" and k > 1 and not np.all(np.diff(a[j] * row[:k]) > 0):
                raise ValueError(
                    f"item {item!r}: field 'b' of a grm item must increase (decrease if a < 0), "
                    f"got {list(row[:k])} with a = {a[j]!r}"
                )
            if m == "3pl":
                if not 0.0 <= c[j] < 1.0:
                    raise ValueError(f"item {item!r}: field 'c' must lie in [0, 1), got {c[j]!r}")
            elif c[j] != 0.0:
                raise ValueError(f"item {item!r}: field 'c' must be 0 for a {m} item, got {c[j]!r}")
        if n > 0:
            width = int(np.isfinite(b).sum(axis=1).max())
            b = b[:, :width]
        object.__setattr__(self, "item_ids", item_ids)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "a", _readonly(a))
        object.__setattr__(self, "b", _readonly(np.ascontiguousarray(b)))
        object.__setattr__(self, "c", _readonly(c))

    @classmethod
    def from_arrays(
        cls,
        item_ids: Sequence[str],
        model: str | Sequence[str],
        a: ArrayLike,
        b: ArrayLike,
        c: ArrayLike | None = None,
    ) -> ItemParameters:
        """Build and validate parameters from plain arrays.

        Parameters
        ----------
        item_ids : sequence of str, length J
        model : str or sequence of str
            One model for every item, or one per item.
        a : array_like, shape (J,)
        b : array_like, shape (J,) or (J, K_max - 1)
            A 1-D ``b`` is read as one difficulty per item. Rows of polytomous items are NaN-padded.
        c : array_like, shape (J,), optional
            Defaults to zeros.

        Returns
        -------
        ItemParameters

        Raises
        ------
        ValueError
            Naming the item and the field (see the class docstring).
        """
        ids = tuple(str(i) for i in item_ids)
        models = (model,) * len(ids) if isinstance(model, str) else tuple(model)
        a_arr = np.asarray(a, dtype=np.float64)
        c_arr = np.zeros(len(ids)) if c is None else np.asarray(c, dtype=np.float64)
        return cls(ids, models, a_arr, np.asarray(b, dtype=np.float64), c_arr)

    @property
    def n_items(self) -> int:
        """Number of items J."""
        return len(self.item_ids)

    @property
    def n_categories(self) -> IntArray:
        """Number of response categories per item, shape (J,): 2 for dichotomous items."""
        counts: IntArray = np.isfinite(self.b).sum(axis=1).astype(np.int64)
        return counts + 1

    @property
    def max_categories(self) -> int:
        """Largest number of categories K_max (2 when there are no items)."""
        return int(self.n_categories.max()) if self.n_items else 2

    def index(self, item_id: str) -> int:
        """Column of ``item_id``; raises ValueError if it is not among the items."""
        try:
            return self.item_ids.index(item_id)
        except ValueError:
            raise ValueError(f"item {item_id!r} is not among these {self.n_items} items") from None

    def subset(self, indices_or_ids: Sequence[int] | Sequence[str] | NDArray[Any]) -> ItemParameters:
        """Items selected by position, boolean mask or id, in the order given.

        Parameters
        ----------
        indices_or_ids : sequence of int, sequence of str, or boolean mask of length J

        Returns
        -------
        ItemParameters
            With ``b`` trimmed to the selection's K_max - 1 columns.
        """
        sel = list(indices_or_ids.tolist() if isinstance(indices_or_ids, np.ndarray) else indices_or_ids)
        if sel and all(isinstance(s, bool | np.bool_) for s in sel):
            if len(sel) != self.n_items:
                raise ValueError(f"boolean mask has {len(sel)} entries for {self.n_items} items")
            idx = [j for j, keep in enumerate(sel) if keep]
        else:
            idx = [self.index(s) if isinstance(s, str) else int(s) for s in sel]
        for j in idx:
            if not -self.n_items <= j < self.n_items:
                raise ValueError(f"item index {j} out of range for {self.n_items} items")
        ix = np.asarray(idx, dtype=np.int64)
        b = self.b[ix] if len(idx) else np.full((0, 1), np.nan)
        return ItemParameters(
            tuple(self.item_ids[j] for j in idx),
            tuple(self.model[j] for j in idx),
            self.a[ix],
            b,
            self.c[ix],
        )

    def __repr__(self) -> str:
        models = sorted(set(self.model))
        return f"ItemParameters(n_items={self.n_items}, models={models}, K_max={self.max_categories})"


# --------------------------------------------------------------------------------------------------------
# Vectorised kernels on the slope-intercept form. ``a`` (J,), ``d`` (J, K-1) with d = -a*b for dichotomous
# and grm items and d_v = -a*b_v (step intercepts) for gpcm, ``c`` (J,), ``theta`` (Q,). All items passed to
# one kernel call share the family and K. They are the single implementation used by the public functions
# below and by the calibration's M-step.
# --------------------------------------------------------------------------------------------------------


def _grm_probabilities(z: FloatArray) -> FloatArray:
    """P(X = k) = P*(X >= k) - P*(X >= k+1) from the cumulative logits z (J, Q, K-1), shape (J, Q, K).

    Where both cumulative probabilities are close to 1 the difference is taken between their complements,
    ``logistic(-z_{k+1}) - logistic(-z_k)``, which keeps full relative precision in the upper tail.
    """
    j, q, _ = z.shape
    inf = np.full((j, q, 1), np.inf)
    z_hi = np.concatenate([inf, z], axis=-1)  # z_k, with z_0 = +inf
    z_lo = np.concatenate([z, -inf], axis=-1)  # z_{k+1}, with z_K = -inf
    direct = expit(z_hi) - expit(z_lo)
    complement = expit(-z_lo) - expit(-z_hi)
    return np.clip(np.where(z_lo > 0, complement, direct), 0.0, 1.0)  # type: ignore[no-any-return]


def _kernel_probabilities(
    family: str, a: FloatArray, d: FloatArray, c: FloatArray, theta: FloatArray
) -> FloatArray:
    """Category probabilities, shape (J, Q, K), for items of one family and one K."""
    z = a[:, None, None] * theta[None, :, None] + d[:, None, :]  # (J, Q, K-1)
    if family == "dich":
        cc = c[:, None]
        # 1 - P1 as (1 - c) * logistic(-z), not 1 - P1: exact in the upper tail.
        out: FloatArray = np.stack([(1.0 - cc) * expit(-z[:, :, 0]), cc + (1.0 - cc) * expit(z[:, :, 0])], -1)
        return out
    if family == "grm":
        return _grm_probabilities(z)
    k = d.shape[1] + 1
    steps = np.arange(k, dtype=np.float64)
    logits = a[:, None, None] * steps[None, None, :] * theta[None, :, None]
    logits[:, :, 1:] += np.cumsum(d, axis=1)[:, None, :]
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]


def _kernel_log_probabilities(
    family: str, a: FloatArray, d: FloatArray, c: FloatArray, theta: FloatArray
) -> FloatArray:
    """log P(X = k | theta), shape (J, Q, K), computed stably in the tails."""
    z = a[:, None, None] * theta[None, :, None] + d[:, None, :]
    if family == "dich":
        zz = z[:, :, 0]
        lp1 = log_expit(zz)
        lp0 = log_expit(-zz)
        if np.any(c > 0):
            cc = c[:, None]
            # log(c + (1-c) s) = log(1-c) + log(s + c/(1-c)) handled as logaddexp of the two terms.
            with np.errstate(divide="ignore"):
                lp1 = np.logaddexp(np.log(cc), np.log1p(-cc) + lp1)
            lp0 = np.log1p(-cc) + lp0
        return np.stack([lp0, lp1], axis=-1)
    if family == "grm":
        return np.log(np.maximum(_kernel_probabilities(family, a, d, c, theta), _TINY))
    k = d.shape[1] + 1
    steps = np.arange(k, dtype=np.float64)
    logits = a[:, None, None] * steps[None, None, :] * theta[None, :, None]
    logits[:, :, 1:] += np.cumsum(d, axis=1)[:, None, :]
    mx = logits.max(axis=-1, keepdims=True)
    return logits - (mx + np.log(np.exp(logits - mx).sum(axis=-1, keepdims=True)))  # type: ignore[no-any-return]


def _kernel_jacobian(
    family: str, a: FloatArray, d: FloatArray, c: FloatArray, theta: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Probabilities and their derivatives with respect to the slope-intercept parameters.

    Returns
    -------
    p : ndarray, shape (J, Q, K)
    dp_da : ndarray, shape (J, Q, K)
        dP_k / da.
    dp_dd : ndarray, shape (J, Q, K, K-1)
        dP_k / dd_v.
    dp_dg : ndarray, shape (J, Q, K)
        dP_k / dg with g = logit(c) (zeros unless c > 0; only meaningful for dichotomous items).
    """
    z = a[:, None, None] * theta[None, :, None] + d[:, None, :]
    j_n, q_n = z.shape[0], z.shape[1]
    if family == "dich":
        s, s_c = expit(z[:, :, 0]), expit(-z[:, :, 0])
        cc = c[:, None]
        p = np.stack([(1.0 - cc) * s_c, cc + (1.0 - cc) * s], axis=-1)
        dz = (1.0 - cc) * s * s_c  # dP1/dz
        dp_da = np.stack([-dz * theta, dz * theta], axis=-1)
        dp_dd = np.stack([-dz, dz], axis=-1)[..., None]
        dg = cc * (1.0 - cc) * s_c  # dP1/dg
        dp_dg = np.stack([-dg, dg], axis=-1)
        return p, dp_da, dp_dd, dp_dg
    k = d.shape[1] + 1
    if family == "grm":
        cum = expit(z)
        w = cum * expit(-z)  # dP*_v/dz_v, (J, Q, K-1)
        p = _grm_probabilities(z)
        wu = np.concatenate([np.zeros((j_n, q_n, 1)), w], axis=-1)  # dP*_k/dz for k = 0..K-1
        wl = np.concatenate([w, np.zeros((j_n, q_n, 1))], axis=-1)  # dP*_{k+1}/dz
        dp_da = (wu - wl) * theta[None, :, None]
        dp_dd = np.zeros((j_n, q_n, k, k - 1))
        idx = np.arange(k - 1)
        dp_dd[:, :, idx + 1, idx] = w  # P_k contains +P*_k
        dp_dd[:, :, idx, idx] -= w  # P_{k-1} contains -P*_k
        return p, dp_da, dp_dd, np.zeros_like(p)
    p = _kernel_probabilities(family, a, d, c, theta)
    steps = np.arange(k, dtype=np.float64)
    mean_k = (p * steps).sum(axis=-1, keepdims=True)
    dp_da = p * (steps - mean_k) * theta[None, :, None]
    # P(X >= v | theta) for v = 1..K-1; d log P_k / d d_v = [k >= v] - P(X >= v).
    tail = np.cumsum(p[:, :, ::-1], axis=-1)[:, :, ::-1][:, :, 1:]
    ge = (steps[:, None] >= np.arange(1, k)[None, :]).astype(np.float64)  # (K, K-1)
    dp_dd = p[..., None] * (ge[None, None, :, :] - tail[:, :, None, :])
    return p, dp_da, dp_dd, np.zeros_like(p)


def _kernel_information(
    family: str, a: FloatArray, d: FloatArray, c: FloatArray, theta: FloatArray
) -> FloatArray:
    """Fisher information sum_k (dP_k/dtheta)^2 / P_k, shape (J, Q)."""
    p = _kernel_probabilities(family, a, d, c, theta)
    dp_dt = _kernel_dtheta(family, a, d, c, theta)
    return np.sum(dp_dt**2 / np.maximum(p, _TINY), axis=-1)  # type: ignore[no-any-return]


def _kernel_dtheta(family: str, a: FloatArray, d: FloatArray, c: FloatArray, theta: FloatArray) -> FloatArray:
    """dP_k / dtheta, shape (J, Q, K)."""
    z = a[:, None, None] * theta[None, :, None] + d[:, None, :]
    j_n, q_n = z.shape[0], z.shape[1]
    if family == "dich":
        s = expit(z[:, :, 0])
        dp1 = a[:, None] * (1.0 - c[:, None]) * s * (1.0 - s)
        return np.stack([-dp1, dp1], axis=-1)
    if family == "grm":
        cum = expit(z)
        w = a[:, None, None] * cum * (1.0 - cum)
        wu = np.concatenate([np.zeros((j_n, q_n, 1)), w], axis=-1)
        wl = np.concatenate([w, np.zeros((j_n, q_n, 1))], axis=-1)
        return wu - wl  # type: ignore[no-any-return]
    p = _kernel_probabilities(family, a, d, c, theta)
    steps = np.arange(p.shape[-1], dtype=np.float64)
    mean_k = (p * steps).sum(axis=-1, keepdims=True)
    return a[:, None, None] * p * (steps - mean_k)  # type: ignore[no-any-return]


def _slope_intercept(
    params: ItemParameters, rows: IntArray
) -> tuple[str, FloatArray, FloatArray, FloatArray]:
    """(family, a, d, c) of items ``rows`` that share family and K; d = -a*b row-wise."""
    family = _family(params.model[int(rows[0])])
    k = int(params.n_categories[int(rows[0])])
    a = params.a[rows]
    d = -a[:, None] * params.b[rows, : k - 1]
    return family, a, d, params.c[rows]


def _item_groups(params: ItemParameters) -> list[tuple[str, int, IntArray]]:
    """Items grouped by (family, number of categories): list of (family, K, item indices)."""
    keys: dict[tuple[str, int], list[int]] = {}
    ncat = params.n_categories
    for j, m in enumerate(params.model):
        keys.setdefault((_family(m), int(ncat[j])), []).append(j)
    return [(f, k, np.asarray(ix, dtype=np.int64)) for (f, k), ix in keys.items()]


def _as_theta(theta: ArrayLike) -> FloatArray:
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"theta must be a scalar or 1-D array, got shape {arr.shape}")
    arr = arr.reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError("theta must be finite")
    return arr


def category_probabilities(params: ItemParameters, theta: ArrayLike) -> FloatArray:
    """Probability of every category of every item at every ability.

    Parameters
    ----------
    params : ItemParameters
        J items.
    theta : array_like, shape (Q,) or scalar

    Returns
    -------
    ndarray of float64, shape (Q, J, K_max)
        ``P[q, j, k] = P(X_j = k | theta_q)``; 0 for k >= n_categories[j]. Rows sum to 1.
    """
    th = _as_theta(theta)
    out = np.zeros((th.shape[0], params.n_items, params.max_categories))
    for _, k, rows in _item_groups(params):
        fam, a, d, c = _slope_intercept(params, rows)
        out[:, rows, :k] = _kernel_probabilities(fam, a, d, c, th).transpose(1, 0, 2)
    return out


def _log_probabilities(params: ItemParameters, theta: FloatArray) -> FloatArray:
    """log P, shape (Q, J, K_max), -inf beyond each item's categories."""
    out = np.full((theta.shape[0], params.n_items, params.max_categories), -np.inf)
    for _, k, rows in _item_groups(params):
        fam, a, d, c = _slope_intercept(params, rows)
        out[:, rows, :k] = _kernel_log_probabilities(fam, a, d, c, theta).transpose(1, 0, 2)
    return out


def expected_score(params: ItemParameters, theta: ArrayLike) -> FloatArray:
    """Expected item score ``E[X_j | theta] = sum_k k P_jk(theta)``.

    Returns
    -------
    ndarray of float64, shape (Q, J)
    """
    p = category_probabilities(params, theta)
    return p @ np.arange(p.shape[2], dtype=np.float64)


def item_information(params: ItemParameters, theta: ArrayLike) -> FloatArray:
    """Fisher item information ``I_j(theta) = sum_k (dP_jk/dtheta)^2 / P_jk(theta)``.

    Equals ``-E[d^2 log P(X_j | theta) / dtheta^2]``; e.g. ``a^2 P (1-P)`` for the 2pl and
    ``a^2 (1-P)/P ((P-c)/(1-c))^2`` for the 3pl.

    Returns
    -------
    ndarray of float64, shape (Q, J)
    """
    th = _as_theta(theta)
    out = np.zeros((th.shape[0], params.n_items))
    for _, _, rows in _item_groups(params):
        fam, a, d, c = _slope_intercept(params, rows)
        out[:, rows] = _kernel_information(fam, a, d, c, th).T
    return out


def test_information(params: ItemParameters, theta: ArrayLike) -> FloatArray:
    """Test information ``I(theta) = sum_j I_j(theta)``; the standard error of theta is ``1/sqrt(I)``.

    Returns
    -------
    ndarray of float64, shape (Q,)
    """
    return item_information(params, theta).sum(axis=1)  # type: ignore[no-any-return]


test_information.__test__ = False  # type: ignore[attr-defined]


def check_responses(params: ItemParameters, responses: ArrayLike) -> IntArray:
    """Validate a response matrix against the items and return it as int64.

    Parameters
    ----------
    params : ItemParameters
        J items.
    responses : array_like of int, shape (N, J)
        -1 for missing, else 0..n_categories[j]-1.

    Returns
    -------
    ndarray of int64, shape (N, J)

    Raises
    ------
    ValueError
        For a wrong shape, non-integer values, or a category out of range (naming the item).
    """
    arr = np.asarray(responses)
    if arr.ndim != 2 or arr.shape[1] != params.n_items:
        raise ValueError(f"responses must have shape (N, {params.n_items}), got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all((arr == np.round(arr)) | np.isnan(arr)):
            raise ValueError("responses must be whole numbers (categories 0..K-1, -1 for missing)")
        arr = np.where(np.isnan(arr), MISSING, arr)
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"responses must be integers, got dtype {arr.dtype}")
    x = arr.astype(np.int64)
    if x.size:
        ncat = params.n_categories
        bad = (x < MISSING) | (x >= ncat[None, :])
        if bad.any():
            j = int(np.argmax(bad.any(axis=0)))
            v = int(x[bad[:, j], j][0])
            raise ValueError(
                f"item {params.item_ids[j]!r}: response {v} is out of range; use 0..{int(ncat[j]) - 1} "
                f"or {MISSING} for missing"
            )
    return x


def log_likelihood(params: ItemParameters, responses: ArrayLike, theta: ArrayLike) -> FloatArray:
    """Log-likelihood of every response pattern at every ability, missing responses skipped.

    ``log L[n, q] = sum_{j observed for n} log P(X_j = x_nj | theta_q)``

    Parameters
    ----------
    params : ItemParameters
        J items.
    responses : array_like of int, shape (N, J)
        -1 for missing.
    theta : array_like, shape (Q,)

    Returns
    -------
    ndarray of float64, shape (N, Q)
    """
    th = _as_theta(theta)
    x = check_responses(params, responses)
    logp = _log_probabilities(params, th)  # (Q, J, K)
    n_j, k_max = params.n_items, params.max_categories
    table = np.where(np.isfinite(logp), logp, 0.0).transpose(1, 2, 0).reshape(n_j * k_max, -1)
    out = np.empty((x.shape[0], th.shape[0]))
    # One indicator GEMM per block of persons: (n, J*K) one-hot @ (J*K, Q). Blocks bound the memory.
    block = max(1, 2**22 // max(1, n_j * k_max))
    cols = np.arange(n_j) * k_max
    for start in range(0, x.shape[0], block):
        xb = x[start : start + block]
        onehot = np.zeros((xb.shape[0], n_j * k_max))
        rr, jj = np.nonzero(xb >= 0)
        onehot[rr, cols[jj] + xb[rr, jj]] = 1.0
        out[start : start + block] = onehot @ table
    return out


def log_likelihood_gradient(
    params: ItemParameters, responses: ArrayLike, theta: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Analytic gradient of the log-likelihood with respect to each item's (a, b, c).

    For persons with known abilities ``theta_n``, ``l = sum_n sum_{j observed} log P(X_j = x_nj | theta_n)``;
    returns ``dl/da_j``, ``dl/db_jv`` and ``dl/dc_j``. With ``z = a (theta - b)`` (dichotomous, grm) and
    ``z_k = a (k theta - sum_{v<=k} b_v)`` (gpcm), ``dl/dpar = sum_n (dP_{x_n}/dpar) / P_{x_n}``.

    Parameters
    ----------
    params : ItemParameters
        J items.
    responses : array_like of int, shape (N, J)
        -1 for missing.
    theta : array_like, shape (N,)
        One ability per person.

    Returns
    -------
    grad_a : ndarray, shape (J,)
    grad_b : ndarray, shape (J, K_max - 1)
        NaN beyond each item's parameters.
    grad_c : ndarray, shape (J,)
        NaN for items other than 3pl (c is not one of their parameters).
    """
    th = _as_theta(theta)
    x = check_responses(params, responses)
    if th.shape[0] != x.shape[0]:
        raise ValueError(f"theta has {th.shape[0]} entries for {x.shape[0]} persons")
    grad_a = np.zeros(params.n_items)
    grad_b = np.full(params.b.shape, np.nan)
    grad_c = np.full(params.n_items, np.nan)
    for _, k, rows in _item_groups(params):
        fam, a, d, c = _slope_intercept(params, rows)
        p, dp_da, dp_dd, _ = _kernel_jacobian(fam, a, d, c, th)  # (J', N, K[, K-1])
        xr = x[:, rows].T  # (J', N)
        obs = xr >= 0
        xi = np.where(obs, xr, 0)[..., None]
        px = np.take_along_axis(p, xi, axis=2)[..., 0]
        inv = np.where(obs, 1.0 / np.maximum(px, _TINY), 0.0)  # (J', N)
        g_a_si = (np.take_along_axis(dp_da, xi, axis=2)[..., 0] * inv).sum(axis=1)
        g_d = (np.take_along_axis(dp_dd, xi[..., None], axis=2)[:, :, 0, :] * inv[..., None]).sum(axis=1)
        # Chain rule from (a, d) to (a, b): d = -a b  =>  dl/db = -a dl/dd, dl/da|_b = dl/da|_d - b . dl/dd.
        b = params.b[rows, : k - 1]
        grad_a[rows] = g_a_si - (b * g_d).sum(axis=1)
        grad_b[rows, : k - 1] = -a[:, None] * g_d
        if fam == "dich":
            # dP1/dc = 1 - s and dP0/dc = -(1 - s), with s the logistic part.
            s = expit(a[:, None] * th[None, :] + d[:, 0, None])
            sign = np.where(xr == 1, 1.0, -1.0)
            g_c = np.where(obs, sign * (1.0 - s) * inv, 0.0).sum(axis=1)
            is3 = np.array([params.model[j] == "3pl" for j in rows])
            grad_c[rows[is3]] = g_c[is3]
    return grad_a, grad_b, grad_c


def simulate_responses(
    params: ItemParameters,
    theta: ArrayLike,
    rng: np.random.Generator,
    missing_rate: float = 0.0,
) -> IntArray:
    """Draw responses from the model.

    Parameters
    ----------
    params : ItemParameters
        J items.
    theta : array_like, shape (N,)
        True abilities.
    rng : numpy.random.Generator
    missing_rate : float, default 0.0
        Probability that a response is missing completely at random (set to -1).

    Returns
    -------
    ndarray of int64, shape (N, J)
        Categories 0..K_j-1, -1 for missing.
    """
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError(f"missing_rate must lie in [0, 1), got {missing_rate!r}")
    th = _as_theta(theta)
    out = np.empty((th.shape[0], params.n_items), dtype=np.int64)
    block = max(1, 2**21 // max(1, params.n_items * params.max_categories))
    for start in range(0, th.shape[0], block):
        p = category_probabilities(params, th[start : start + block])  # (n, J, K)
        cum = np.cumsum(p, axis=2)
        u = rng.random(p.shape[:2])
        out[start : start + block] = (u[..., None] >= cum[..., :-1]).sum(axis=2)
    out = np.minimum(out, params.n_categories[None, :] - 1)
    if missing_rate > 0:
        out[rng.random(out.shape) < missing_rate] = MISSING
    return out


def random_item_parameters(
    n_items: int,
    model: str | Sequence[str],
    rng: np.random.Generator,
    n_categories: int | Sequence[int] = 5,
    item_ids: Sequence[str] | None = None,
) -> ItemParameters:
    """Realistic simulated item parameters for tests and benchmarks.

    The distributions follow the shared benchmark (research/psychometrics.md section 3):
    ``a ~ lognormal(0.1, 0.3)`` clipped to [0.4, 3.0] (one common draw for all 1pl items, 1 for rasch/pcm),
    dichotomous ``b ~ N(0, 1)`` clipped to +-2.5, 3pl ``c ~ U(0.05, 0.30)``; polytomous items get an item
    centre ``N(0, 0.8)`` and thresholds spaced by ``U(0.5, 1.3)`` steps around it (increasing; also used as
    gpcm/pcm step difficulties).

    Parameters
    ----------
    n_items : int
    model : str or sequence of str
        One model for all items or one per item.
    rng : numpy.random.Generator
    n_categories : int or sequence of int, default 5
        Categories of polytomous items (ignored for dichotomous ones).
    item_ids : sequence of str, optional
        Defaults to ``"i001"``, ``"i002"``, ...

    Returns
    -------
    ItemParameters
    """
    models = [model] * n_items if isinstance(model, str) else list(model)
    if len(models) != n_items:
        raise ValueError(f"model has {len(models)} entries for {n_items} items")
    cats = [n_categories] * n_items if isinstance(n_categories, int) else list(n_categories)
    if len(cats) != n_items:
        raise ValueError(f"n_categories has {len(cats)} entries for {n_items} items")
    ids = [f"i{j + 1:03d}" for j in range(n_items)] if item_ids is None else list(item_ids)
    a = np.clip(rng.lognormal(0.1, 0.3, n_items), 0.4, 3.0)
    common_a = float(np.clip(rng.lognormal(0.1, 0.3), 0.4, 3.0))
    c = np.zeros(n_items)
    kmax = max([2] + [int(k) for k, m in zip(cats, models, strict=True) if m in POLYTOMOUS])
    b = np.full((n_items, kmax - 1), np.nan)
    for j, m in enumerate(models):
        if m in DICHOTOMOUS:
            b[j, 0] = np.clip(rng.normal(0.0, 1.0), -2.5, 2.5)
        else:
            k = int(cats[j])
            if k < 2:
                raise ValueError(f"item {ids[j]!r}: n_categories must be at least 2, got {k}")
            thresholds = np.cumsum(rng.uniform(0.5, 1.3, k - 1))
            b[j, : k - 1] = thresholds - thresholds.mean() + rng.normal(0.0, 0.8)
        if m in UNIT_SLOPE_MODELS:
            a[j] = 1.0
        elif m == "1pl":
            a[j] = common_a
        elif m == "3pl":
            c[j] = rng.uniform(0.05, 0.30)
    return ItemParameters(tuple(ids), tuple(models), a, b, c)
