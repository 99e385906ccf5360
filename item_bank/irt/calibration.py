"""Marginal maximum likelihood calibration of item parameters by EM over fixed quadrature (Bock-Aitkin).

Why this is written by hand rather than taken from a library: on this project's 2-core machine R mirt 1.47
needs 121 s for a 2PL calibration of 100,000 persons x 200 items, py mirt 50-60 s and girth 293 s, while the
GEMM floor of one EM iteration is ~0.03 s (research/psychometrics.md sections 3-4). The E-step below is two
GEMMs per block of persons, in float32 where that is accurate enough, with a fused, cache-sized posterior
step, and the M-step works on small (item x category x node) tables; that is what brings a calibration to
the few seconds the product needs.

Model of the data: person n in group g has ability theta ~ N(mu_g, sigma_g^2), approximated by Q fixed nodes
``theta_q`` on ``theta_range`` with weights ``pi_gq`` proportional to the normal density (normalised to sum
to 1, as mirt does). The marginal log-likelihood is

    l = sum_n log sum_q pi_{g(n) q} prod_{j observed for n} P_j(x_nj | theta_q)

E-step: the posterior weight of node q for person n, ``w_nq``, and the expected counts ``r_jkq = sum_n w_nq
[x_nj = k]``. M-step: every item maximises ``sum_{k,q} r_jkq log P_jk(theta_q)`` plus its log prior by
Fisher scoring; the latent means/variances are the posterior moments.

The E-step uses a design matrix ``D`` (N x C) of 0/1 indicators: for each item one column per category k >=
1 and, if the item has missing responses, one "observed" column. Then every person's log-likelihood at every
node is one GEMM ``D @ F`` (F: C x Q log-probability differences) plus a constant row, and the expected
counts are one GEMM ``D.T @ W``. For complete dichotomous items this is exactly ``X @ (log P1 - log P0) +
sum_j log P0``.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, sparse
from scipy.special import expit, logit

from item_bank.irt.models import (
    DICHOTOMOUS,
    MISSING,
    MODELS,
    UNIT_SLOPE_MODELS,
    ItemParameters,
    _family,
    _kernel_jacobian,
    _kernel_log_probabilities,
)

__all__ = ["Calibrator", "ItemStandardErrors", "ProgressCallback"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
ProgressCallback = Callable[[int, float, float], object]
"""``callback(iteration, log_likelihood, max_change)``, called once per EM iteration; raise to cancel."""

_TINY = 1e-300
_SE_METHODS = ("auto", "louis", "crossprod", None)
_INNER_TOL = 1e-9  # Fisher-scoring tolerance inside one M-step: far below the EM tolerance
_INNER_MAX = 30
_SQUAREM_STEP0 = 16.0  # initial largest SQUAREM step length ("step.max0"; 1 in Varadhan and Roland)
_FLOAT32_TOL = 1e-5  # below this EM tolerance the last iterations run in float64
# Persons per E-step block: the (block x C) design rows and (block x Q) posterior stay in cache.
_BLOCK_ELEMENTS = 2**19
_SE_MEMORY_LIMIT = 2**30  # bytes for the per-node pairwise counts of the exact (Louis) information
# "auto" standard errors: exact (Louis) while its N x C^2 x Q pairwise counts cost at most ~1e10
# multiply-adds (about a second here, e.g. 5,000 persons x 100 items), else cross-product.
_LOUIS_BUDGET = 1e10


@dataclass
class _Item:
    """One estimated or fixed item; an item free across groups has one _Item per group."""

    column: int  # column of the response matrix
    item_id: str
    group: int  # -1: all groups share these parameters
    model: str
    n_cat: int
    fixed: bool
    cat_cols: IntArray  # design columns of categories 1..K-1
    obs_col: int  # design column "observed", -1 if every person in scope answered
    n_obs: int
    counts: IntArray  # (K,) responses per category


@dataclass
class _Batch:
    """Items sharing a probability formula and K: vectorised together."""

    family: str
    n_cat: int
    items: IntArray  # indices into the _Item list
    cat_cols: IntArray  # (J_b, K-1)
    obs_cols: IntArray  # (J_b,), -1 where complete
    pattern: str  # free parameters of each item: "d", "ad", "adg"; "" for fixed items, "1pl" for common a


@dataclass
class _Problem:
    """Everything that stays constant during one fit."""

    items: list[_Item]
    design: NDArray[Any]  # (N, C) float32/float64 0/1
    group_bounds: list[tuple[int, int]]
    n_groups: int
    theta: FloatArray  # (Q,)
    eval_batches: list[_Batch]  # all items, by (family, K)
    free_batches: list[_Batch]  # free items with an independent slope or none, by (family, K, pattern)
    common_items: IntArray  # free 1pl items sharing one slope
    mean_free: NDArray[np.bool_]  # (G,)
    var_free: NDArray[np.bool_]  # (G,)
    n_cols: int  # design columns, the G group-indicator columns last
    group_cols: IntArray  # (G,)


def _block_rows(n_cols: int) -> int:
    return int(max(256, min(4096, _BLOCK_ELEMENTS // max(1, n_cols))))


@functools.cache
def _openblas_thread_setters() -> tuple[Any, ...]:
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded in this process (numpy's and scipy's).

    The E-step runs its own worker threads, one per core, each calling single-threaded GEMMs on its blocks of
    persons. Leaving OpenBLAS's own threading on would put two thread pools on the same cores, and a
    fork-join per GEMM stalls for a whole scheduler slice whenever another process holds a core (measured
    here: 10x slower on a busy 2-core machine). The setter is thread-local (OpenBLAS >= 0.3.27), so other
    threads of the process keep their BLAS settings. Empty when unavailable: the E-step then runs in the
    calling thread with the library's default threading.
    """
    setters = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return ()
    for path in sorted(paths):
        try:
            fn = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = ctypes.c_int
        setters.append(fn)
    return tuple(setters)


def _available_cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _single_threaded_blas() -> None:
    for setter in _openblas_thread_setters():
        setter(1)


class Calibrator:
    """Marginal maximum likelihood (Bock-Aitkin EM) calibration of unidimensional IRT models.

    Follows scikit-learn's estimator contract: hyper-parameters are stored unchanged, :meth:`fit` returns
    ``self`` and learned attributes end in ``_``.

    Parameters
    ----------
    model : str or sequence of str, default "2pl"
        One of ``"rasch", "1pl", "2pl", "3pl", "grm", "gpcm", "pcm"`` for every item, or one per item
        (dichotomous and polytomous items can be calibrated together). ``rasch`` and ``pcm`` fix a = 1 and
        estimate the latent variance instead (mirt's ``'Rasch'``); ``1pl`` estimates one slope common to all
        1pl items with theta ~ N(0, 1) (ltm's ``rasch()``). Items in ``fixed`` keep the model given there.
    n_quad : int, default 61
        Number of equally spaced quadrature nodes.
    theta_range : (float, float), default (-6.0, 6.0)
        First and last node.
    max_iter : int, default 500
        Largest number of EM iterations (each iteration is one E-step and one M-step).
    tol : float, default 1e-4
        Convergence when the largest absolute change of any parameter in one EM iteration is below ``tol``
        (parameters on the slope-intercept scale: a, d = -a*b, logit c, latent mean and log sd), as in mirt.
    c_prior : (float, float) or None, default (5.0, 17.0)
        Beta(alpha, beta) prior density on c of 3pl items (mode 0.2, the BILOG convention for five-option
        items); None for plain maximum likelihood.
    a_prior : (float, float) or None, default None
        Lognormal (meanlog, sdlog) prior on the slope a of every 2pl, 3pl, grm and gpcm item, e.g.
        ``(0.0, 0.5)`` (not on the single common slope of 1pl items).
    fixed : ItemParameters or None
        Bank items held at these values, matched by item id; the remaining items are estimated on the same
        scale and the latent mean and variance are estimated (fixed-parameter calibration of pretest items).
    groups_free_items : sequence of str or None
        With ``groups`` in :meth:`fit`: items whose parameters are estimated separately in every group; all
        other items are invariant and link the groups.
    estimate_latent : bool or None, default None
        None or True: estimate every latent mean and variance the design identifies -- the reference group's
        mean and variance when fixed items anchor the scale, its variance when rasch/pcm items fix the slope,
        and every focal group's mean and variance. False: every group is N(0, 1).
    callback : callable or None
        ``callback(iteration, log_likelihood, max_change)`` after every EM iteration. It may raise to cancel
        the fit: the exception propagates and the estimator keeps the state it had before ``fit`` was called.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the two large GEMMs of the E-step. float32 moves the estimates by ~1e-6 (a thousandth
        of a typical standard error); with ``tol`` below 1e-5 the last iterations switch to float64. The
        M-step, the reported log-likelihood (a final float64 E-step) and the standard errors are float64.
    se_method : {"auto", "louis", "crossprod", None}, default "auto"
        How the standard errors (and ``covariance_``) are computed, always as the inverse of an information
        matrix of the marginal log-likelihood plus log priors, by the delta method for b = -d/a and c:

        * "louis": the exact observed information by Louis' (1982) identity ``I = E[-H_c | x] -
          Cov[s_c | x]`` (complete-data Hessian and score), computed analytically from per-node pairwise
          expected counts -- the quantity mirt's "Oakes" and "Richardson" SEs approximate numerically. Its
          cost grows as N x C^2 x Q (C: item categories).
        * "crossprod": the cross-product of per-person scores ``sum_n s_n s_n^T`` (mirt's "crossprod"), a
          consistent estimate of the same information, cost N x P^2; it agrees with "louis" to O(1/sqrt(N)).
        * "auto": "louis" up to ~1e10 multiply-adds (e.g. 5,000 persons x 100 dichotomous items), else
          "crossprod"; the method used is stored in ``se_method_``.
        * None: no standard errors (fastest; like mirt's default ``SE = FALSE``).
    acceleration : {"squarem", None}, default "squarem"
        SQUAREM extrapolation of the EM map (Varadhan and Roland, 2008); reduces the number of EM iterations
        several-fold and is rejected whenever it lowers the log-likelihood.
    n_jobs : int or None, default None
        Worker threads of the E-step (None: one per available core). Each runs single-threaded BLAS on its
        own blocks of persons; without a controllable OpenBLAS the E-step runs in the calling thread.

    Attributes
    ----------
    params_ : ItemParameters
        Estimates in the order of the response columns (reference group values for group-free items).
    se_ : ItemParameters-shaped
        Standard errors with fields ``a``, ``b``, ``c``; NaN where fixed or not estimated.
    group_params_, group_se_ : dict
        Group label -> ItemParameters / SEs (differ only in the group-free items).
    groups_ : tuple
        Group labels; the first is the reference group.
    latent_mean_, latent_sd_ : ndarray, shape (G,)
        Latent mean and standard deviation per group.
    latent_se_ : ndarray, shape (G, 2)
        Standard errors of (mean, sd); NaN where fixed.
    covariance_ : ndarray, shape (P_pub, P_pub)
        Covariance of the estimates named in ``parameter_names_`` (a, b_k, c, latent mean and sd).
    se_method_ : str or None
        "louis", "crossprod" or None: how ``se_`` and ``covariance_`` were computed.
    parameter_names_ : list of str
        ``"<item>.a"``, ``"<item>.b"`` (dichotomous) or ``"<item>.b1"``, ``"<item>.b2"``, ... (polytomous),
        ``"<item>.c"``; ``"<item>@<group>.a"`` etc. for group-free items; ``"mean@<group>"`` and
        ``"sd@<group>"``.
    log_likelihood_ : float
        Marginal log-likelihood of the data at the estimates (without the log prior).
    log_prior_ : float
        Sum of the log prior densities at the estimates (0 without priors).
    aic_, bic_ : float
        ``-2 l + 2 P`` and ``-2 l + P log N``.
    n_parameters_ : int
        Number of estimated parameters P (items and latent).
    n_persons_ : int
        Persons with at least one response (the N of the BIC).
    n_iter_ : int
        EM iterations performed.
    converged_ : bool
    warnings_ : list of str
        Plain-language problems naming the item.
    quadrature_nodes_ : ndarray, shape (Q,)
    posterior_weights_ : ndarray, shape (G, Q)
        Average posterior weight of every node per group (the estimated latent distribution as a histogram).
    """

    # Learned attributes (set together by fit; declared here for type checkers).
    params_: ItemParameters
    se_: ItemStandardErrors
    group_params_: dict[Any, ItemParameters]
    group_se_: dict[Any, ItemStandardErrors]
    groups_: tuple[Any, ...]
    latent_mean_: FloatArray
    latent_sd_: FloatArray
    latent_se_: FloatArray
    covariance_: FloatArray
    se_method_: str | None
    parameter_names_: list[str]
    log_likelihood_: float
    log_prior_: float
    aic_: float
    bic_: float
    n_parameters_: int
    n_persons_: int
    n_iter_: int
    converged_: bool
    warnings_: list[str]
    quadrature_nodes_: FloatArray
    posterior_weights_: FloatArray

    def __init__(
        self,
        model: str | Sequence[str] = "2pl",
        *,
        n_quad: int = 61,
        theta_range: tuple[float, float] = (-6.0, 6.0),
        max_iter: int = 500,
        tol: float = 1e-4,
        c_prior: tuple[float, float] | None = (5.0, 17.0),
        a_prior: tuple[float, float] | None = None,
        fixed: ItemParameters | None = None,
        groups_free_items: Sequence[str] | None = None,
        estimate_latent: bool | None = None,
        callback: ProgressCallback | None = None,
        dtype: str = "float32",
        se_method: str | None = "auto",
        acceleration: str | None = "squarem",
        n_jobs: int | None = None,
    ) -> None:
        self.model = model
        self.n_quad = n_quad
        self.theta_range = theta_range
        self.max_iter = max_iter
        self.tol = tol
        self.c_prior = c_prior
        self.a_prior = a_prior
        self.fixed = fixed
        self.groups_free_items = groups_free_items
        self.estimate_latent = estimate_latent
        self.callback = callback
        self.dtype = dtype
        self.se_method = se_method
        self.acceleration = acceleration
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------------------------------------------
    # public
    # ------------------------------------------------------------------------------------------------------

    def fit(
        self,
        responses: ArrayLike,
        item_ids: Sequence[str] | None = None,
        groups: ArrayLike | None = None,
        reference_group: Any = None,
    ) -> Calibrator:
        """Estimate the item parameters (and latent means/variances) from a response matrix.

        Parameters
        ----------
        responses : array_like of int, shape (N, J)
            Categories 0..K_j-1, -1 (or NaN) for not presented. K_j of an estimated item is its largest
            observed category + 1.
        item_ids : sequence of str, length J, optional
            Defaults to ``"i001", "i002", ...``; required to match ``fixed`` items.
        groups : array_like, shape (N,), optional
            Group label of every person, for multiple-group calibration.
        reference_group : optional
            Label of the reference group (theta ~ N(0, 1) unless fixed items anchor the scale). Defaults to
            the first label in sorted order.

        Returns
        -------
        Calibrator
            ``self``, with the learned attributes set.

        Raises
        ------
        ValueError
            Naming the item and the problem: category out of range, an item nobody answered, an estimated
            item with fewer than two observed categories, unknown models or ids, inconsistent shapes.
        """
        self._check_hyper_parameters()
        x, ids, models, labels, group_index = self._prepare(responses, item_ids, groups, reference_group)
        problem, init, fixed_values, warnings = self._build_problem(x, ids, models, group_index, labels)
        del x
        state = _EM(self, problem, init, fixed_values, [str(g) for g in labels])
        try:
            vec, n_iter, converged, last_change = state.run()
            result = state.finish(vec)
        finally:
            state.close()
        if not converged:
            warnings.insert(
                0,
                f"The calibration did not converge in {n_iter} EM iterations: the largest parameter change "
                f"in the last iteration was {last_change:.2g} (tolerance {self.tol:g}). Treat the estimates "
                "as provisional; a model with fewer parameters or more data may help.",
            )
        warnings.extend(result.pop("warnings"))
        learned: dict[str, Any] = {
            "groups_": tuple(labels),
            "n_iter_": n_iter,
            "converged_": converged,
            "warnings_": warnings,
            "quadrature_nodes_": problem.theta.copy(),
            **result,
        }
        learned["group_params_"] = dict(zip(labels, learned.pop("group_params"), strict=True))
        learned["group_se_"] = dict(zip(labels, learned.pop("group_se"), strict=True))
        learned["params_"] = learned["group_params_"][labels[0]]
        learned["se_"] = learned["group_se_"][labels[0]]
        for name, value in learned.items():  # all at once: a cancelled or failed fit leaves no partial state
            setattr(self, name, value)
        return self

    # ------------------------------------------------------------------------------------------------------
    # input checking and problem set-up
    # ------------------------------------------------------------------------------------------------------

    def _check_hyper_parameters(self) -> None:
        if int(self.n_quad) < 5:
            raise ValueError(f"n_quad must be at least 5, got {self.n_quad!r}")
        lo, hi = (float(v) for v in self.theta_range)
        if not lo < hi:
            raise ValueError(f"theta_range must be increasing, got {self.theta_range!r}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be at least 1, got {self.max_iter!r}")
        if not float(self.tol) > 0:
            raise ValueError(f"tol must be positive, got {self.tol!r}")
        if self.c_prior is not None and (len(self.c_prior) != 2 or min(self.c_prior) <= 0):
            raise ValueError(f"c_prior must be None or two positive Beta parameters, got {self.c_prior!r}")
        if self.a_prior is not None and (len(self.a_prior) != 2 or self.a_prior[1] <= 0):
            raise ValueError(f"a_prior must be None or (meanlog, sdlog) with sdlog > 0, got {self.a_prior!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.se_method not in _SE_METHODS:
            raise ValueError(f"se_method must be one of {_SE_METHODS}, got {self.se_method!r}")
        if self.n_jobs is not None and int(self.n_jobs) < 1:
            raise ValueError(f"n_jobs must be None or at least 1, got {self.n_jobs!r}")
        if self.acceleration not in ("squarem", None):
            raise ValueError(f"acceleration must be 'squarem' or None, got {self.acceleration!r}")
        if self.fixed is not None and not isinstance(self.fixed, ItemParameters):
            raise ValueError(f"fixed must be an ItemParameters or None, got {type(self.fixed).__name__}")

    def _prepare(
        self,
        responses: ArrayLike,
        item_ids: Sequence[str] | None,
        groups: ArrayLike | None,
        reference_group: Any,
    ) -> tuple[NDArray[Any], list[str], list[str], list[Any], IntArray]:
        """Validated responses (persons sorted by group), ids, models, group labels and per-person group."""
        arr = np.asarray(responses)
        if arr.ndim != 2:
            raise ValueError(f"responses must be a 2-D array (persons x items), got shape {arr.shape}")
        n, j = arr.shape
        if arr.dtype.kind == "f":
            nan = np.isnan(arr)
            if not np.all((arr == np.round(arr)) | nan):
                raise ValueError(
                    "responses must be whole numbers: categories 0..K-1 and -1 (or NaN) for missing"
                )
            arr = np.where(nan, MISSING, arr).astype(np.int64)
        elif arr.dtype.kind == "b":
            arr = arr.astype(np.int8)
        elif arr.dtype.kind not in "iu":
            raise ValueError(f"responses must be integers, got dtype {arr.dtype}")
        ids = [f"i{k + 1:03d}" for k in range(j)] if item_ids is None else [str(i) for i in item_ids]
        if len(ids) != j:
            raise ValueError(f"item_ids has {len(ids)} entries for {j} response columns")
        if len(set(ids)) != j:
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"item {dup!r}: item_ids must be unique")
        if n and arr.size:
            low = arr.min(axis=0)
            if (low < MISSING).any():
                col = int(np.argmax(low < MISSING))
                raise ValueError(
                    f"item {ids[col]!r}: response {int(low[col])} is out of range; "
                    "use 0..K-1, or -1 for missing"
                )
        if isinstance(self.model, str):
            models = [self.model.lower()] * j
        else:
            models = [str(m).lower() for m in self.model]
            if len(models) != j:
                raise ValueError(f"model has {len(models)} entries for {j} items")
        fixed = self.fixed
        for k, m in enumerate(models):
            if fixed is not None and ids[k] in fixed.item_ids:
                fm = fixed.model[fixed.index(ids[k])]
                if not isinstance(self.model, str) and m != fm:
                    raise ValueError(f"item {ids[k]!r}: model {m!r} differs from its fixed model {fm!r}")
                models[k] = fm
            elif m not in MODELS:
                raise ValueError(f"item {ids[k]!r}: model must be one of {MODELS}, got {m!r}")
        if groups is None:
            labels: list[Any] = ["all"]
            gidx = np.zeros(n, dtype=np.int64)
        else:
            g = np.asarray(groups)
            if g.shape != (n,):
                raise ValueError(f"groups must have one label per person ({n}), got shape {g.shape}")
            uniq, gidx = np.unique(g, return_inverse=True)
            labels = [u.item() if hasattr(u, "item") else u for u in uniq]
            if reference_group is not None:
                if reference_group not in labels:
                    raise ValueError(f"reference_group {reference_group!r} is not among the groups {labels}")
                r = labels.index(reference_group)
                order = [r] + [k for k in range(len(labels)) if k != r]
                remap = np.empty(len(labels), dtype=np.int64)
                remap[order] = np.arange(len(labels))
                labels = [labels[k] for k in order]
                gidx = remap[gidx]
            gidx = gidx.astype(np.int64)
        if self.groups_free_items and len(labels) < 2:
            raise ValueError("groups_free_items needs groups with at least two different labels")
        # Persons without any response add nothing to the likelihood; leave them out of every pass.
        answered = (arr >= 0).any(axis=1) if j else np.zeros(n, dtype=bool)
        if not answered.all():
            arr, gidx = arr[answered], gidx[answered]
        if len(labels) > 1:
            by_group = np.argsort(gidx, kind="stable")
            arr, gidx = arr[by_group], gidx[by_group]
        if arr.shape[0] == 0:
            raise ValueError("no person answered any item")
        return arr, ids, models, labels, gidx

    def _build_problem(
        self,
        x: NDArray[Any],
        ids: list[str],
        models: list[str],
        gidx: IntArray,
        labels: list[Any],
    ) -> tuple[_Problem, dict[int, tuple[float, FloatArray, float]], dict[int, Any], list[str]]:
        n, j = x.shape
        n_groups = len(labels)
        fixed = self.fixed
        free_across = set(self.groups_free_items or ())
        unknown = free_across - set(ids)
        if unknown:
            raise ValueError(f"groups_free_items names items not in the data: {sorted(unknown)}")
        warnings: list[str] = []
        bounds = []
        starts = np.searchsorted(gidx, np.arange(n_groups + 1))
        for g in range(n_groups):
            bounds.append((int(starts[g]), int(starts[g + 1])))
            if starts[g] == starts[g + 1]:
                raise ValueError(f"group {labels[g]!r} has no person with a response")
        # Responses per group, item and category: one vectorised pass over the matrix per category.
        k_top = int(x.max()) + 1 if x.size else 1
        group_counts = np.zeros((n_groups, j, max(k_top, 2)), dtype=np.int64)
        for g, (lo, hi) in enumerate(bounds):
            for k in range(k_top):
                group_counts[g, :, k] = np.count_nonzero(x[lo:hi] == k, axis=0)
        all_counts = group_counts.sum(axis=0)
        n_obs = all_counts.sum(axis=1)
        used = all_counts > 0
        top = np.where(used.any(axis=1), used.shape[1] - 1 - np.argmax(used[:, ::-1], axis=1), -1)
        items: list[_Item] = []
        fixed_values: dict[int, Any] = {}
        for col in range(j):
            item_id, m = ids[col], models[col]
            is_fixed = fixed is not None and item_id in fixed.item_ids
            if is_fixed and item_id in free_across:
                raise ValueError(f"item {item_id!r} cannot be both fixed and free across groups")
            if n_obs[col] == 0 and not is_fixed:
                raise ValueError(f"item {item_id!r}: nobody answered it, so it cannot be calibrated")
            if is_fixed:
                assert fixed is not None
                fj = fixed.index(item_id)
                k = int(fixed.n_categories[fj])
                if top[col] >= k:
                    raise ValueError(
                        f"item {item_id!r}: response {int(top[col])} is out of range for its fixed {m} "
                        f"parameters with {k} categories"
                    )
                fixed_values[len(items)] = (fixed.a[fj], fixed.b[fj, : k - 1].copy(), fixed.c[fj])
            else:
                k = 2 if m in DICHOTOMOUS else int(top[col]) + 1
                if m in DICHOTOMOUS and top[col] > 1:
                    raise ValueError(
                        f"item {item_id!r}: response {int(top[col])} is out of range for a {m} item "
                        "(0 or 1, -1 for missing)"
                    )
            group_list = range(n_groups) if item_id in free_across else [-1]
            for g in group_list:
                counts = (group_counts[g, col] if g >= 0 else all_counts[col])[:k]
                counts = np.pad(counts, (0, k - counts.size))
                items.append(_Item(col, item_id, g, m, k, is_fixed, np.zeros(0, np.int64), -1, 0, counts))
        # design columns
        n_cols = 0
        for it in items:
            lo, hi = bounds[it.group] if it.group >= 0 else (0, n)
            it.n_obs = int(it.counts.sum())
            it.cat_cols = np.arange(n_cols, n_cols + it.n_cat - 1)
            n_cols += it.n_cat - 1
            if it.group >= 0 or it.n_obs < hi - lo:
                it.obs_col = n_cols
                n_cols += 1
        group_cols = np.arange(n_cols, n_cols + n_groups)
        n_cols += n_groups
        for it in items:
            if it.fixed:
                continue
            counts = it.counts
            where = f"item {it.item_id!r}" + (f" in group {labels[it.group]!r}" if it.group >= 0 else "")
            if (counts > 0).sum() < 2:
                only = int(np.argmax(counts))
                what = {0: "got it wrong", 1: "got it right"}.get(only, f"chose category {only}")
                raise ValueError(
                    f"{where}: everyone who answered it {what}, so it has fewer than 2 observed categories "
                    "and cannot be calibrated; remove it or hold it fixed"
                )
            for empty in np.nonzero(counts == 0)[0]:
                warnings.append(
                    f"Nobody chose category {int(empty)} of {where}; its neighbouring thresholds cannot be "
                    "separated and will drift together. Consider merging the category with a neighbour."
                )
            share = counts.max() / counts.sum()
            if it.n_cat == 2 and share > 0.98:
                side = "right" if counts[1] > counts[0] else "wrong"
                warnings.append(
                    f"Almost everyone ({100 * share:.1f}%) got {where} {side}; its difficulty and "
                    "discrimination rest on very few responses."
                )
            if it.n_obs < 100:
                warnings.append(
                    f"{where[0].upper()}{where[1:]} has only {it.n_obs} responses; "
                    "its estimates are unreliable."
                )
        dtype = np.float32 if self.dtype == "float32" else np.float64
        design = self._design(x, items, bounds, n_cols, dtype)
        for g, (lo, hi) in enumerate(bounds):
            design[lo:hi, group_cols[g]] = 1
        theta = np.linspace(float(self.theta_range[0]), float(self.theta_range[1]), int(self.n_quad))

        eval_keys: dict[tuple[str, int], list[int]] = {}
        free_keys: dict[tuple[str, int, str], list[int]] = {}
        common: list[int] = []
        for v, it in enumerate(items):
            fam = _family(it.model)
            eval_keys.setdefault((fam, it.n_cat), []).append(v)
            if it.fixed:
                continue
            if it.model == "1pl":
                common.append(v)
                continue
            pattern = "d" if it.model in UNIT_SLOPE_MODELS else ("adg" if it.model == "3pl" else "ad")
            free_keys.setdefault((fam, it.n_cat, pattern), []).append(v)

        def batch(fam: str, k: int, members: list[int], pattern: str) -> _Batch:
            ix = np.asarray(members, dtype=np.int64)
            cat = np.array([items[v].cat_cols for v in members], dtype=np.int64).reshape(len(members), k - 1)
            obs = np.array([items[v].obs_col for v in members], dtype=np.int64)
            return _Batch(fam, k, ix, cat, obs, pattern)

        eval_batches = [batch(f, k, m, "") for (f, k), m in eval_keys.items()]
        free_batches = [batch(f, k, m, p) for (f, k, p), m in free_keys.items()]

        anchored = any(it.fixed for it in items)
        unit_slope = any(it.model in UNIT_SLOPE_MODELS and not it.fixed for it in items)
        invariant = any(it.group < 0 for it in items)
        if n_groups > 1 and not invariant:
            raise ValueError("every item is free across groups: no invariant item links the groups' scales")
        estimate = self.estimate_latent is None or bool(self.estimate_latent)
        mean_free = np.zeros(n_groups, dtype=bool)
        var_free = np.zeros(n_groups, dtype=bool)
        if estimate:
            mean_free[0] = anchored
            var_free[0] = anchored or unit_slope
            mean_free[1:] = True
            var_free[1:] = True
        problem = _Problem(
            items=items,
            design=design,
            group_bounds=bounds,
            n_groups=n_groups,
            theta=theta,
            eval_batches=eval_batches,
            free_batches=free_batches,
            common_items=np.asarray(common, dtype=np.int64),
            mean_free=mean_free,
            var_free=var_free,
            n_cols=n_cols,
            group_cols=group_cols,
        )
        init = self._initial_values(x, items)
        return problem, init, fixed_values, warnings

    @staticmethod
    def _design(
        x: NDArray[Any], items: list[_Item], bounds: list[tuple[int, int]], n_cols: int, dtype: type
    ) -> NDArray[Any]:
        """The 0/1 design matrix (N, C) without its group columns: category and "observed" indicators."""
        n = x.shape[0]
        design: NDArray[Any] = np.zeros((n, n_cols), dtype=dtype)
        invariant = [it for it in items if it.group < 0]
        k_max = max((it.n_cat for it in invariant), default=2)
        # For each category k >= 1: the items that have it, their response columns and design columns.
        by_cat = []
        for k in range(1, k_max):
            having = [it for it in invariant if it.n_cat > k]
            by_cat.append(
                (k, np.array([it.column for it in having]), np.array([it.cat_cols[k - 1] for it in having]))
            )
        with_obs = [it for it in invariant if it.obs_col >= 0]
        obs_src = np.array([it.column for it in with_obs], dtype=np.int64)
        obs_dst = np.array([it.obs_col for it in with_obs], dtype=np.int64)
        # Fast path (every calibration without group-free items whose items share K and missingness): the
        # design's first columns are, item after item, [x == 1, ..., x == K-1, (x >= 0)], i.e. a reshape.
        uniform = len(invariant) == len(items) and len({(it.n_cat, it.obs_col >= 0) for it in items}) == 1
        levels = np.arange(1, k_max).astype(x.dtype)
        step = max(1, 2**21 // max(1, x.shape[1]))
        for lo in range(0, n, step):
            xb = x[lo : lo + step]
            db = design[lo : lo + step]
            if uniform:
                xs = xb[:, :, None]
                onehot = xs == levels  # (rows, J, K-1)
                if obs_dst.size:
                    onehot = np.concatenate([onehot, xs >= 0], axis=2)
                db[:, : onehot.shape[1] * onehot.shape[2]] = onehot.reshape(onehot.shape[0], -1)
                continue
            for k, src, dst in by_cat:
                db[:, dst] = xb[:, src] == k
            if obs_dst.size:
                db[:, obs_dst] = xb[:, obs_src] >= 0
        for it in items:
            if it.group < 0:
                continue
            lo, hi = bounds[it.group]
            xs = x[lo:hi, it.column].astype(np.int64)
            rows = np.arange(lo, hi)
            pos = xs >= 1
            design[rows[pos], it.cat_cols[xs[pos] - 1]] = 1
            design[rows[xs >= 0], it.obs_col] = 1
        return design

    def _initial_values(
        self, x: NDArray[Any], items: list[_Item]
    ) -> dict[int, tuple[float, FloatArray, float]]:
        """Starting (a, d, c) from category proportions and item-rest correlations of <= 5000 persons.

        The item-rest correlation r (inflated by 1.25 for the rest score's unreliability) is read as a normal
        ogive loading l, giving a ~ 1.7 l / sqrt(1 - l^2); intercepts come from the logits of the observed
        proportions stretched by sqrt(1 + a^2 / 1.7^2), which undoes the marginalisation over theta.
        """
        n = x.shape[0]
        take = np.linspace(0, n - 1, min(n, 5000)).astype(np.int64)
        xs = x[take].astype(np.float64)
        obs = xs >= 0
        ncat = np.ones(x.shape[1])
        for it in items:
            ncat[it.column] = max(ncat[it.column], it.n_cat - 1)
        scaled = np.where(obs, xs, 0.0) / ncat
        total = scaled.sum(axis=1)
        count = obs.sum(axis=1)
        c_mode = 0.2
        if self.c_prior is not None:
            al, be = self.c_prior
            c_mode = float(np.clip((al - 1) / (al + be - 2), 0.01, 0.5)) if al + be > 2 else 0.2
        init: dict[int, tuple[float, FloatArray, float]] = {}
        for v, it in enumerate(items):
            if it.fixed:
                continue
            col = it.column
            m = obs[:, col] & (count > 1)
            rest = (total[m] - scaled[m, col]) / (count[m] - 1)
            r = 0.5
            if m.sum() > 2 and rest.std() > 0 and scaled[m, col].std() > 0:
                r = float(np.corrcoef(rest, scaled[m, col])[0, 1])
            lam = float(np.clip(1.25 * r, 0.2, 0.85))
            a = 1.7 * lam / math.sqrt(1 - lam * lam) if it.model not in UNIT_SLOPE_MODELS else 1.0
            counts = it.counts.astype(np.float64) + 0.5
            scale = math.sqrt(1 + a * a / 2.89)
            c = 0.0
            if it.model == "3pl":
                c = c_mode
                p = float(np.clip((counts[1] / counts.sum() - c) / (1 - c), 0.05, 0.95))
                d = np.array([logit(p) * scale])
            elif _family(it.model) == "gpcm":
                d = np.log(counts[1:] / counts[:-1]) * scale
            else:
                ge = np.cumsum(counts[::-1])[::-1][1:] / counts.sum()  # P(X >= k), k = 1..K-1
                d = logit(np.clip(ge, 1e-3, 1 - 1e-3)) * scale
                d = d - 1e-3 * np.arange(d.size)  # strictly decreasing even with an empty category
            init[v] = (a, d, c)
        return init


# ----------------------------------------------------------------------------------------------------------
# The EM engine: one instance per fit.
# ----------------------------------------------------------------------------------------------------------


class _EM:
    def __init__(
        self,
        cal: Calibrator,
        problem: _Problem,
        init: dict[int, tuple[float, FloatArray, float]],
        fixed_values: dict[int, Any],
        labels: list[str],
    ) -> None:
        self.cal = cal
        self.labels = labels
        self.pb = problem
        items = problem.items
        v_n = len(items)
        k_max = max(it.n_cat for it in items)
        self.a = np.ones(v_n)
        self.d = np.full((v_n, k_max - 1), np.nan)
        self.c = np.zeros(v_n)
        for v, (a, b, c) in fixed_values.items():
            k = items[v].n_cat
            self.a[v] = a
            self.d[v, : k - 1] = -a * b
            self.c[v] = c
        for v, (a, d, c) in init.items():
            self.a[v] = a
            self.d[v, : d.size] = d
            self.c[v] = c
        if problem.common_items.size:
            self.a[problem.common_items] = float(np.mean(self.a[problem.common_items]))
        self.mu = np.zeros(problem.n_groups)
        self.sigma = np.ones(problem.n_groups)
        self.c_prior = cal.c_prior
        self.a_prior = cal.a_prior
        self.dtype = np.float32 if cal.dtype == "float32" else np.float64
        self.block = _block_rows(problem.n_cols)
        n = problem.design.shape[0]
        self.blocks = [(lo, min(lo + self.block, n)) for lo in range(0, n, self.block)]
        workers = cal.n_jobs if cal.n_jobs is not None else _available_cores()
        workers = max(1, min(int(workers), len(self.blocks)))
        self.pool: ThreadPoolExecutor | None = None
        if _openblas_thread_setters():  # even one worker: its BLAS is single-threaded, the caller's untouched
            self.pool = ThreadPoolExecutor(workers, initializer=_single_threaded_blas)
        self.workers = workers if self.pool is not None else 1
        self.se_method: str | None = None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    # ---- parameter vector (for convergence checks and SQUAREM) ---------------------------------------------

    def pack(self) -> FloatArray:
        parts: list[FloatArray] = []
        for bt in self.pb.free_batches:
            parts.append(self._batch_matrix(bt).ravel())
        if self.pb.common_items.size:
            parts.append(self.a[self.pb.common_items[:1]])
            parts.append(self.d[self.pb.common_items, 0])
        parts.append(self.mu[self.pb.mean_free])
        parts.append(np.log(self.sigma[self.pb.var_free]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def unpack(self, vec: FloatArray) -> None:
        pos = 0
        for bt in self.pb.free_batches:
            p = len(bt.pattern) + bt.n_cat - 2  # pattern letters besides "d" + (K-1) intercepts
            mat = vec[pos : pos + bt.items.size * p].reshape(bt.items.size, p)
            pos += bt.items.size * p
            self._set_batch_matrix(bt, mat)
        ci = self.pb.common_items
        if ci.size:
            self.a[ci] = vec[pos]
            self.d[ci, 0] = vec[pos + 1 : pos + 1 + ci.size]
            pos += 1 + ci.size
        nm = int(self.pb.mean_free.sum())
        self.mu[self.pb.mean_free] = vec[pos : pos + nm]
        pos += nm
        nv = int(self.pb.var_free.sum())
        self.sigma[self.pb.var_free] = np.exp(vec[pos : pos + nv])

    def _batch_matrix(self, bt: _Batch) -> FloatArray:
        cols: list[FloatArray] = []
        if "a" in bt.pattern:
            cols.append(self.a[bt.items, None])
        cols.append(self.d[bt.items, : bt.n_cat - 1])
        if "g" in bt.pattern:
            cols.append(logit(np.clip(self.c[bt.items], 1e-12, 1 - 1e-12))[:, None])
        return np.concatenate(cols, axis=1)

    def _set_batch_matrix(self, bt: _Batch, mat: FloatArray) -> None:
        pos = 0
        if "a" in bt.pattern:
            self.a[bt.items] = mat[:, 0]
            pos = 1
        self.d[bt.items, : bt.n_cat - 1] = mat[:, pos : pos + bt.n_cat - 1]
        if "g" in bt.pattern:
            self.c[bt.items] = expit(mat[:, -1])

    def guessing_mask(self) -> NDArray[np.bool_]:
        """Positions of logit(c) in the packed vector."""
        mask = np.zeros(self.pack().size, dtype=bool)
        pos = 0
        for bt in self.pb.free_batches:
            p = len(bt.pattern) + bt.n_cat - 2
            if "g" in bt.pattern:
                mask[pos + p - 1 : pos + bt.items.size * p : p] = True
            pos += bt.items.size * p
        return mask

    def feasible(self, vec: FloatArray) -> bool:
        if not np.all(np.isfinite(vec)):
            return False
        pos = 0
        for bt in self.pb.free_batches:
            p = len(bt.pattern) + bt.n_cat - 2
            mat = vec[pos : pos + bt.items.size * p].reshape(bt.items.size, p)
            pos += bt.items.size * p
            if bt.family == "grm" and bt.n_cat > 2:
                off = 1 if "a" in bt.pattern else 0
                if np.any(np.diff(mat[:, off : off + bt.n_cat - 1], axis=1) >= 0):
                    return False
        return True

    # ---- E-step --------------------------------------------------------------------------------------------

    def log_prob_table(self) -> FloatArray:
        """F (C, Q), float64: the E-step's ``log L = D @ F``. Category rows hold log P_k - log P_0, "observed"
        rows log P_0, and group rows the log prior weights plus log P_0 of every complete item."""
        pb = self.pb
        table = np.zeros((pb.n_cols, pb.theta.size))
        const = np.zeros(pb.theta.size)
        for bt in pb.eval_batches:
            k = bt.n_cat
            lp = _kernel_log_probabilities(
                bt.family, self.a[bt.items], self.d[bt.items, : k - 1], self.c[bt.items], pb.theta
            )  # (J_b, Q, K)
            table[bt.cat_cols] = (lp[:, :, 1:] - lp[:, :, :1]).transpose(0, 2, 1)
            has_obs = bt.obs_cols >= 0
            table[bt.obs_cols[has_obs]] = lp[has_obs, :, 0]
            const += lp[~has_obs, :, 0].sum(axis=0)
        table[pb.group_cols] = const[None, :] + self.log_prior_weights()
        return table

    def log_prior_weights(self) -> FloatArray:
        """log pi_gq, shape (G, Q): normal density at the nodes, normalised to sum 1 per group."""
        z = (self.pb.theta[None, :] - self.mu[:, None]) / self.sigma[:, None]
        lw = -0.5 * z * z
        return lw - np.log(np.exp(lw).sum(axis=1, keepdims=True))  # type: ignore[no-any-return]

    def _estep_worker(self, tasks: Iterator[int], table: NDArray[Any], dt: type) -> tuple[float, FloatArray]:
        """Posterior and expected counts of the blocks this worker draws from the shared task counter."""
        counts = np.zeros(table.shape)
        loglik = 0.0
        design = self.pb.design
        for i in tasks:
            if i >= len(self.blocks):
                break
            lo, hi = self.blocks[i]
            dc = design[lo:hi]
            if dc.dtype != dt:
                dc = dc.astype(dt)
            w = dc @ table  # log-likelihood + log prior of every person at every node
            top = w.max(axis=1, keepdims=True)
            np.subtract(w, top, out=w)
            np.exp(w, out=w)
            s = w.sum(axis=1, keepdims=True)
            loglik += float(np.log(s, dtype=np.float64).sum() + top.sum(dtype=np.float64))
            np.multiply(w, 1.0 / s, out=w)
            counts += dc.T @ w  # expected counts; the group columns give the posterior node totals
        return loglik, counts

    def estep(self, dtype: type | None = None) -> tuple[float, FloatArray]:
        """Marginal log-likelihood and expected counts R (C, Q); ``R[group_cols]`` are the node totals."""
        dt = self.dtype if dtype is None else dtype
        unpadded = self.log_prob_table()
        q = unpadded.shape[1]
        # Nodes padded to a multiple of 8 columns: OpenBLAS's kernels run ~10% faster on 64 columns than on
        # 61. The padding columns get log weight -1e30 through the group rows, so their posterior is 0.
        table: NDArray[Any] = np.zeros((unpadded.shape[0], -(-q // 8) * 8), dtype=dt)
        table[:, :q] = unpadded
        table[self.pb.group_cols, q:] = -1e30
        tasks = itertools.count()  # shared: next() is atomic under the GIL, so blocks are claimed once
        if self.pool is None:
            loglik, counts = self._estep_worker(tasks, table, dt)
        else:
            parts = list(self.pool.map(lambda _: self._estep_worker(tasks, table, dt), range(self.workers)))
            loglik, counts = sum(p[0] for p in parts), np.sum([p[1] for p in parts], axis=0)
        return loglik, counts[:, :q]

    def item_counts(
        self, counts: FloatArray, totals: FloatArray, bt: _Batch
    ) -> tuple[FloatArray, FloatArray]:
        """r (J_b, Q, K) and n (J_b, Q) of one batch from the E-step's R and S."""
        k = bt.n_cat
        r = np.empty((bt.items.size, self.pb.theta.size, k))
        r[:, :, 1:] = counts[bt.cat_cols].transpose(0, 2, 1)
        n = np.empty((bt.items.size, self.pb.theta.size))
        has_obs = bt.obs_cols >= 0
        n[has_obs] = counts[bt.obs_cols[has_obs]]
        n[~has_obs] = totals.sum(axis=0)
        r[:, :, 0] = np.maximum(n - r[:, :, 1:].sum(axis=2), 0.0)
        return r, n

    # ---- M-step --------------------------------------------------------------------------------------------

    def _prior_terms(
        self, pattern: str, a: FloatArray, c: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Log prior (J,), its gradient (J, p) and a negative-definite curvature (J, p) on the pattern's
        parameters (a, d..., g); d has a flat prior."""
        j = a.size
        p_extra = ("a" in pattern) + ("g" in pattern)
        value = np.zeros(j)
        grad = np.zeros((j, p_extra))
        curv = np.zeros((j, p_extra))
        if "a" in pattern and self.a_prior is not None:
            mu, sd = self.a_prior
            with np.errstate(divide="ignore", invalid="ignore"):
                la = np.log(a)
                u = la - mu
                value += np.where(a > 0, -la - u * u / (2 * sd * sd), -np.inf)
                grad[:, 0] = np.where(a > 0, -1 / a - u / (sd * sd * a), 0.0)
                curv[:, 0] = np.where(a > 0, -1 / (sd * sd * a * a), 0.0)
        if "g" in pattern and self.c_prior is not None:
            al, be = self.c_prior
            with np.errstate(divide="ignore"):
                value += (al - 1) * np.log(c) + (be - 1) * np.log1p(-c)
            grad[:, -1] = (al - 1) * (1 - c) - (be - 1) * c
            curv[:, -1] = -(al + be - 2) * c * (1 - c) - 1e-8
        return value, grad, curv

    def _objective(
        self,
        fam: str,
        pattern: str,
        a: FloatArray,
        d: FloatArray,
        c: FloatArray,
        r: FloatArray,
        prior: bool = True,
    ) -> FloatArray:
        lp = _kernel_log_probabilities(fam, a, d, c, self.pb.theta)
        value = (r * np.where(r > 0, lp, 0.0)).sum(axis=(1, 2))
        if fam == "grm" and d.shape[1] > 1:
            value = np.where(np.all(np.diff(d, axis=1) < 0, axis=1), value, -np.inf)
        if not prior:
            return value  # type: ignore[no-any-return]
        return value + self._prior_terms(pattern, a, c)[0]  # type: ignore[no-any-return]

    def _score_info(
        self,
        fam: str,
        pattern: str,
        a: FloatArray,
        d: FloatArray,
        c: FloatArray,
        r: FloatArray,
        n: FloatArray,
        prior: bool = True,
    ) -> tuple[FloatArray, FloatArray]:
        """Gradient (J, p) and expected information (J, p, p) of the expected complete-data log-likelihood
        (plus the log prior unless ``prior`` is False)."""
        p, dp_da, dp_dd, dp_dg = _kernel_jacobian(fam, a, d, c, self.pb.theta)
        cols = []
        if "a" in pattern:
            cols.append(dp_da[..., None])
        cols.append(dp_dd)
        if "g" in pattern:
            cols.append(dp_dg[..., None])
        j_n, q_n, k_n = p.shape
        jac = np.concatenate(cols, axis=-1).reshape(j_n, q_n * k_n, -1)  # (J, Q*K, p)
        inv = 1.0 / np.maximum(p, _TINY)
        grad = np.matmul((r * inv).reshape(j_n, 1, -1), jac)[:, 0, :]
        weighted = jac * (n[:, :, None] * inv).reshape(j_n, -1, 1)
        info = np.matmul(weighted.transpose(0, 2, 1), jac)  # sum_q n_q sum_k dP dP^T / P
        if not prior:
            return grad, info
        _, pg, pc = self._prior_terms(pattern, a, c)
        extra = []
        if "a" in pattern:
            extra.append(0)
        if "g" in pattern:
            extra.append(jac.shape[-1] - 1)
        for e, pos in enumerate(extra):
            grad[:, pos] += pg[:, e]
            info[:, pos, pos] -= pc[:, e]
        return grad, info

    def _split(
        self, bt: _Batch, mat: FloatArray, rows: IntArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(a, d, c) of a batch (or of its ``rows``) from the packed (J_b, p) parameter matrix."""
        items = bt.items if rows is None else bt.items[rows]
        off = 1 if "a" in bt.pattern else 0
        a = mat[:, 0] if off else self.a[items]
        d = mat[:, off : off + bt.n_cat - 1]
        c = expit(mat[:, -1]) if "g" in bt.pattern else self.c[items]
        return a, d, c

    def mstep_batch(self, bt: _Batch, r: FloatArray, n: FloatArray) -> None:
        mat = self._batch_matrix(bt)
        a, d, c = self._split(bt, mat)
        f_old = self._objective(bt.family, bt.pattern, a, d, c, r)
        active = np.ones(bt.items.size, dtype=bool)
        for _ in range(_INNER_MAX):
            grad, info = self._score_info(
                bt.family, bt.pattern, a[active], d[active], c[active], r[active], n[active]
            )
            ridge = 1e-10 * np.trace(info, axis1=1, axis2=2)[:, None, None] * np.eye(info.shape[1])
            step = np.linalg.solve(info + ridge, grad[..., None])[..., 0]
            step = np.where(np.isfinite(step), step, 0.0)
            idx = np.nonzero(active)[0]
            lam = np.ones(idx.size)
            accepted = np.zeros(idx.size, dtype=bool)
            new = mat[idx].copy()
            for _ in range(12):
                trial = mat[idx] + lam[:, None] * step
                ta, td, tc = self._split(bt, trial, idx)
                f_new = self._objective(bt.family, bt.pattern, ta, td, tc, r[idx])
                ok = ~accepted & (f_new >= f_old[idx] - 1e-12 * np.abs(f_old[idx]))
                new[ok] = trial[ok]
                f_old[idx[ok]] = f_new[ok]
                accepted |= ok
                if accepted.all():
                    break
                lam = np.where(accepted, lam, lam * 0.5)
            moved = np.abs(new - mat[idx]).max(axis=1)
            mat[idx] = new
            a, d, c = self._split(bt, mat)
            active[idx] = accepted & (moved > _INNER_TOL)
            if not active.any():
                break
        self._set_batch_matrix(bt, mat)

    def mstep_common(self, r: FloatArray, n: FloatArray) -> None:
        """Free 1pl items: one slope shared by all, an intercept each (arrowhead Newton system)."""
        ci = self.pb.common_items
        m = ci.size
        a = float(self.a[ci[0]])
        d = self.d[ci, :1].copy()
        c = np.zeros(m)

        def total(a_val: float, d_val: FloatArray) -> float:
            f = self._objective("dich", "ad", np.full(m, a_val), d_val, c, r, prior=False)
            return float(f.sum())

        f_old = total(a, d)
        for _ in range(_INNER_MAX):
            grad, info = self._score_info("dich", "ad", np.full(m, a), d, c, r, n, prior=False)
            h = np.zeros((m + 1, m + 1))
            h[0, 0] = info[:, 0, 0].sum()
            h[0, 1:] = h[1:, 0] = info[:, 0, 1]
            h[np.arange(1, m + 1), np.arange(1, m + 1)] = info[:, 1, 1]
            g = np.concatenate([[grad[:, 0].sum()], grad[:, 1]])
            step = linalg.solve(h, g, assume_a="pos")
            lam = 1.0
            for _ in range(12):
                ta, td = a + lam * step[0], d + lam * step[1:, None]
                f_new = total(ta, td)
                if f_new >= f_old - 1e-12 * abs(f_old):
                    break
                lam *= 0.5
            else:
                break
            a, d, f_old = ta, td, f_new
            if lam * np.abs(step).max() < _INNER_TOL:
                break
        self.a[ci] = a
        self.d[ci, :1] = d

    def mstep(self, counts: FloatArray, totals: FloatArray) -> None:
        for bt in self.pb.free_batches:
            r, n = self.item_counts(counts, totals, bt)
            self.mstep_batch(bt, r, n)
        ci = self.pb.common_items
        if ci.size:
            cat = np.array([self.pb.items[v].cat_cols for v in ci]).reshape(ci.size, 1)
            obs = np.array([self.pb.items[v].obs_col for v in ci])
            r, n = self.item_counts(counts, totals, _Batch("dich", 2, ci, cat, obs, "1pl"))
            self.mstep_common(r, n)
        theta = self.pb.theta
        for g in range(self.pb.n_groups):
            w = totals[g] / totals[g].sum()
            if self.pb.mean_free[g]:
                self.mu[g] = float(w @ theta)
            if self.pb.var_free[g]:
                self.sigma[g] = float(np.sqrt(w @ (theta - self.mu[g]) ** 2))

    # ---- the EM loop ---------------------------------------------------------------------------------------

    def em_map(self, vec: FloatArray) -> tuple[FloatArray, float]:
        self.unpack(vec)
        loglik, counts = self.estep()
        self.mstep(counts, counts[self.pb.group_cols])
        return self.pack(), loglik

    def run(self) -> tuple[FloatArray, int, bool, float]:
        cal = self.cal
        max_iter, tol = int(cal.max_iter), float(cal.tol)
        vec = self.pack()
        it = 0
        change = math.inf

        g_mask = self.guessing_mask()
        # float32 GEMMs leave ~1e-6 of noise in the parameters: a tighter tolerance is reached by finishing
        # the iterations in float64 once the changes fall below the noise's reach.
        polish = self.dtype == np.float32 and tol < _FLOAT32_TOL

        def step(v: FloatArray) -> tuple[FloatArray, float, float]:
            nonlocal it
            new, loglik = self.em_map(v)
            it += 1
            # Lower asymptotes are compared on the c scale: without a prior an ML c of 0 sends logit c to
            # -infinity, which would otherwise never look converged.
            diff = np.where(g_mask, expit(new) - expit(v), new - v)
            ch = float(np.abs(diff).max()) if v.size else 0.0
            if polish and ch < _FLOAT32_TOL:
                self.dtype = np.float64
            if cal.callback is not None:
                cal.callback(it, loglik, ch)
            return new, loglik, ch

        if vec.size == 0:
            step(vec)
            return vec, it, True, 0.0
        if cal.acceleration is None:
            while it < max_iter:
                vec, _, change = step(vec)
                if change < tol:
                    return vec, it, True, change
            return vec, it, False, change
        step_max = _SQUAREM_STEP0
        while it < max_iter:
            x1, _, change = step(vec)
            if change < tol or it >= max_iter:
                return x1, it, change < tol, change
            x2, ll1, change = step(x1)
            if change < tol or it >= max_iter:
                return x2, it, change < tol, change
            r = x1 - vec
            v = x2 - 2 * x1 + vec
            nv = float(np.linalg.norm(v))
            if nv == 0.0:
                vec = x2
                continue
            alpha = -float(np.linalg.norm(r)) / nv
            alpha = max(min(alpha, -1.0), -step_max)
            xp = vec - 2 * alpha * r + alpha * alpha * v
            if not self.feasible(xp):
                vec = x2
                continue
            x3, llp, change = step(xp)  # also the stabilising EM step of SQUAREM
            if not math.isfinite(llp) or llp < ll1 - 1e-8 * abs(ll1):
                step_max = max(1.0, step_max / 4)
                vec = x2  # the extrapolation overshot: continue from the plain EM iterate
                continue
            if alpha == -step_max:
                step_max *= 4
            if change < tol:
                return x3, it, True, change
            vec = x3
        return vec, it, False, change

    # ---- results -------------------------------------------------------------------------------------------

    def finish(self, vec: FloatArray) -> dict[str, Any]:
        """Final float64 E-step, log-likelihood, priors, standard errors, warnings, item parameter sets."""
        self.unpack(vec)
        pb = self.pb
        loglik, counts = self.estep(np.float64)
        totals = counts[pb.group_cols]
        log_prior = 0.0
        for bt in pb.free_batches:
            log_prior += float(self._prior_terms(bt.pattern, self.a[bt.items], self.c[bt.items])[0].sum())
        n_persons = pb.design.shape[0]
        n_par = self.pack().size
        cov_int, se_warn = self.covariance(counts, totals)
        names, jac = self.public_jacobian()
        cov_pub = jac @ cov_int @ jac.T if cov_int is not None else np.full((len(names), len(names)), np.nan)
        se_pub = np.sqrt(np.maximum(np.diag(cov_pub), 0.0))
        se_pub[np.diag(cov_pub) < 0] = np.nan
        group_params, group_se = self.parameter_sets(se_pub, names)
        latent_se = np.full((pb.n_groups, 2), np.nan)
        labels = self.labels
        for g in range(pb.n_groups):
            for f, field in enumerate(("mean", "sd")):
                key = f"{field}@{labels[g]}"
                if key in names:
                    latent_se[g, f] = se_pub[names.index(key)]
        warnings = se_warn + self.parameter_warnings()
        return {
            "log_likelihood_": loglik,
            "log_prior_": log_prior,
            "aic_": -2 * loglik + 2 * n_par,
            "bic_": -2 * loglik + n_par * math.log(n_persons),
            "n_parameters_": n_par,
            "n_persons_": n_persons,
            "latent_mean_": self.mu.copy(),
            "latent_sd_": self.sigma.copy(),
            "latent_se_": latent_se,
            "posterior_weights_": totals / totals.sum(axis=1, keepdims=True),
            "covariance_": cov_pub,
            "se_method_": self.se_method,
            "parameter_names_": names,
            "group_params": group_params,
            "group_se": group_se,
            "warnings": warnings,
        }

    def parameter_warnings(self) -> list[str]:
        out = []
        for v, it in enumerate(self.pb.items):
            if it.fixed or it.model in UNIT_SLOPE_MODELS:
                continue
            if v in set(self.pb.common_items.tolist()) and v != self.pb.common_items[0]:
                continue
            a = float(self.a[v])
            name = f"item {it.item_id!r}" if it.model != "1pl" else "the common slope of the 1pl items"
            if a <= -0.2:
                out.append(
                    f"The discrimination of {name} is negative (a = {a:.2f}): higher ability makes a high "
                    "score less likely. Check the scoring key."
                )
            elif abs(a) < 0.2:
                out.append(
                    f"The discrimination of {name} is near zero (a = {a:.2f}): it hardly separates "
                    "candidates and its difficulty is unstable."
                )
            elif a > 4.0:
                out.append(
                    f"The discrimination of {name} is implausibly large (a = {a:.2f}); its estimates are "
                    "probably unstable (too few responses or a nearly perfect split)."
                )
        return out

    # ---- standard errors -----------------------------------------------------------------------------------

    def _free_layout(self) -> list[tuple[_Batch, IntArray]]:
        """Global indices (J_b, p) of every free batch's parameters in the packed vector."""
        pos = 0
        out = []
        for bt in self.pb.free_batches:
            p = len(bt.pattern) + bt.n_cat - 2
            out.append((bt, np.arange(pos, pos + bt.items.size * p).reshape(bt.items.size, p)))
            pos += bt.items.size * p
        ci = self.pb.common_items
        if ci.size:
            idx = np.empty((ci.size, 2), dtype=np.int64)
            idx[:, 0] = pos
            idx[:, 1] = np.arange(pos + 1, pos + 1 + ci.size)
            cat = np.array([self.pb.items[v].cat_cols for v in ci]).reshape(ci.size, 1)
            obs = np.array([self.pb.items[v].obs_col for v in ci])
            out.append((_Batch("dich", 2, ci, cat, obs, "1pl"), idx))
        return out

    def _latent_layout(self) -> tuple[IntArray, IntArray]:
        """Global index of each group's mean and log-sd (-1 if fixed)."""
        base = self.pack().size - int(self.pb.mean_free.sum()) - int(self.pb.var_free.sum())
        mean_idx = np.full(self.pb.n_groups, -1, dtype=np.int64)
        var_idx = np.full(self.pb.n_groups, -1, dtype=np.int64)
        nm = int(self.pb.mean_free.sum())
        mean_idx[self.pb.mean_free] = np.arange(base, base + nm)
        var_idx[self.pb.var_free] = np.arange(base + nm, base + nm + int(self.pb.var_free.sum()))
        return mean_idx, var_idx

    def _item_scores(self, bt: _Batch) -> FloatArray:
        """d log P_k / d eta at every node, (J_b, Q, K, p) on the packed parametrisation (a, d, g)."""
        k = bt.n_cat
        a, d, c = self.a[bt.items], self.d[bt.items, : k - 1], self.c[bt.items]
        p, dp_da, dp_dd, dp_dg = _kernel_jacobian(bt.family, a, d, c, self.pb.theta)
        cols = []
        if "a" in bt.pattern or bt.pattern == "1pl":
            cols.append(dp_da[..., None])
        cols.append(dp_dd)
        if "g" in bt.pattern:
            cols.append(dp_dg[..., None])
        return np.concatenate(cols, axis=-1) / np.maximum(p, _TINY)[..., None]

    def _latent_scores(self) -> FloatArray:
        """d log pi_gq / d (mu_g, log sigma_g), shape (G, Q, 2), for the normalised discrete weights."""
        theta = self.pb.theta
        z = (theta[None, :] - self.mu[:, None]) / self.sigma[:, None]
        pi = np.exp(self.log_prior_weights())
        dmu = z / self.sigma[:, None]
        dls = z * z
        out = np.stack(
            [dmu - (pi * dmu).sum(1, keepdims=True), dls - (pi * dls).sum(1, keepdims=True)], axis=-1
        )
        return out

    def _expected_hessian(self, counts: FloatArray, totals: FloatArray, n_par: int) -> FloatArray:
        """A = sum over items and nodes of r * (-d2 log P) + latent part + prior part, by central differences
        of the analytic count-gradient (per item, so cheap)."""
        hess = np.zeros((n_par, n_par))
        for bt, idx in self._free_layout():
            r, n = self.item_counts(counts, totals, bt)
            pattern = "ad" if bt.pattern == "1pl" else bt.pattern
            pseudo = _Batch(bt.family, bt.n_cat, bt.items, bt.cat_cols, bt.obs_cols, pattern)
            mat = self._batch_matrix(pseudo)
            p = mat.shape[1]
            local = np.zeros((bt.items.size, p, p))
            for e in range(p):
                h = 1e-5 * np.maximum(1.0, np.abs(mat[:, e]))
                grads = []
                for sign in (1.0, -1.0):
                    trial = mat.copy()
                    trial[:, e] += sign * h
                    a, d, c = self._split(pseudo, trial)
                    g, _ = self._score_info(bt.family, pattern, a, d, c, r, n, prior=bt.pattern != "1pl")
                    grads.append(g)
                local[:, :, e] = -(grads[0] - grads[1]) / (2 * h[:, None])
            local = 0.5 * (local + local.transpose(0, 2, 1))
            for jj in range(bt.items.size):
                ix = idx[jj]
                hess[np.ix_(ix, ix)] += local[jj]
        mean_idx, var_idx = self._latent_layout()
        theta = self.pb.theta
        for grp in range(self.pb.n_groups):
            free = [(0, mean_idx[grp]), (1, var_idx[grp])]
            free = [(e, i) for e, i in free if i >= 0]
            if not free:
                continue
            # -d2/deta2 of sum_q S_gq log pi_gq with eta = (mu, log sigma): S_g * Cov_pi(score) (exponential
            # family in (theta, theta^2)) evaluated numerically for exactness on the discrete grid.
            base = np.array([self.mu[grp], math.log(self.sigma[grp])])

            def grad_lat(par: FloatArray, g: int = grp) -> FloatArray:
                z = (theta - par[0]) / math.exp(par[1])
                lw = -0.5 * z * z
                pi = np.exp(lw - np.log(np.exp(lw).sum()))
                dmu = z / math.exp(par[1])
                dls = z * z
                sc = np.stack([dmu - pi @ dmu, dls - pi @ dls], axis=-1)
                return totals[g] @ sc  # type: ignore[no-any-return]

            local2 = np.zeros((2, 2))
            for e in range(2):
                hh = 1e-5
                up, dn = base.copy(), base.copy()
                up[e] += hh
                dn[e] -= hh
                local2[:, e] = -(grad_lat(up) - grad_lat(dn)) / (2 * hh)
            local2 = 0.5 * (local2 + local2.T)
            for e1, i1 in free:
                for e2, i2 in free:
                    hess[i1, i2] += local2[e1, e2]
        return hess

    def covariance(self, counts: FloatArray, totals: FloatArray) -> tuple[FloatArray | None, list[str]]:
        method = self.cal.se_method
        n_par = self.pack().size
        if method is None or n_par == 0:
            return None, []
        layout = self._free_layout()
        mean_idx, var_idx = self._latent_layout()
        pb = self.pb
        q = pb.theta.size
        n_groups = pb.n_groups
        # Design columns of free items and their score tables: column c contributes E_c(q) (p_c values at
        # global indices idx_c). Group columns (one per group, indicator of membership) carry the baseline
        # category of complete items and the latent score.
        col_ids: list[int] = []
        col_e: list[FloatArray] = []  # (Q, p)
        col_idx: list[IntArray] = []
        group_e = np.zeros((n_groups, q, n_par))
        for bt, idx in layout:
            sc = self._item_scores(bt)  # (J_b, Q, K, p)
            for jj in range(bt.items.size):
                it = pb.items[int(bt.items[jj])]
                for k in range(1, bt.n_cat):
                    col_ids.append(int(it.cat_cols[k - 1]))
                    col_e.append(sc[jj, :, k, :] - sc[jj, :, 0, :])
                    col_idx.append(idx[jj])
                if it.obs_col >= 0:
                    col_ids.append(it.obs_col)
                    col_e.append(sc[jj, :, 0, :])
                    col_idx.append(idx[jj])
                else:
                    group_e[:, :, idx[jj]] += sc[jj, :, 0, :][None]
        lat = self._latent_scores()
        for g in range(n_groups):
            if mean_idx[g] >= 0:
                group_e[g, :, mean_idx[g]] += lat[g, :, 0]
            if var_idx[g] >= 0:
                group_e[g, :, var_idx[g]] += lat[g, :, 1]
        n_c = len(col_ids)
        c_all = n_c + n_groups
        warn: list[str] = []
        louis_cost = float(pb.design.shape[0]) * c_all * c_all * q
        if method == "auto":
            method = "louis" if louis_cost <= _LOUIS_BUDGET else "crossprod"
        if method == "louis" and 8 * q * c_all * c_all * self.workers > _SE_MEMORY_LIMIT:
            method = "crossprod"
            warn.append(
                f"Exact (Louis) standard errors would need {8 * q * c_all * c_all / 2**20:.0f} MB per thread "
                "for this design; cross-product standard errors were computed instead."
            )
        self.se_method = method
        cols = np.asarray(col_ids, dtype=np.int64)
        p_max = max((e.shape[1] for e in col_e), default=1)
        e_stack = np.zeros((q, n_c, p_max))
        mapping_rows: list[int] = []
        mapping_cols: list[int] = []
        for ci, (e, ix) in enumerate(zip(col_e, col_idx, strict=True)):
            e_stack[:, ci, : e.shape[1]] = e
            mapping_rows.extend(ci * p_max + np.arange(ix.size))
            mapping_cols.extend(ix.tolist())
        mapping = sparse.csr_matrix(
            (np.ones(len(mapping_rows)), (mapping_rows, mapping_cols)), shape=(n_c * p_max, n_par)
        )
        e_flat = e_stack.reshape(q, n_c * p_max)
        empty = [np.zeros(0, dtype=np.int64)]
        scatter_r = np.concatenate(empty + [np.full(ix.size, ci) for ci, ix in enumerate(col_idx)])
        scatter_l = np.concatenate(empty + [np.arange(ix.size) for ix in col_idx])
        scatter_c = np.concatenate(empty + col_idx).astype(np.int64)
        louis = method == "louis"
        # The cross-product is a sum of positive semi-definite terms: float32 (accumulated per block in
        # float64) costs ~1e-6 relative. Louis' formula subtracts two large matrices: float64 throughout.
        dt: type[np.floating[Any]] = np.float64 if louis else np.float32
        table: NDArray[np.floating[Any]] = self.log_prob_table().astype(dt)
        e_dt: NDArray[np.floating[Any]] = e_flat.astype(dt)
        group_e_dt: NDArray[np.floating[Any]] = group_e.astype(dt)
        all_cols = np.concatenate([cols, pb.group_cols])
        mapping_t = mapping.T.tocsr().astype(dt)
        syrk = linalg.get_blas_funcs("syrk", dtype=dt)

        def work(tasks: Iterator[int]) -> tuple[FloatArray, FloatArray | None]:
            xtx = np.zeros((n_par, n_par))  # sum_n s_n s_n^T, s_n = E[complete-data score | x_n]
            # pair[c, c', q] = sum_n D_nc D_nc' w_nq, the per-node pairwise expected counts of Louis'
            # formula, accumulated as one GEMM per slice of persons: D^T @ (D (x) w).
            pair = np.zeros((c_all, c_all * q)) if louis else None
            step = max(1, 2**21 // (c_all * q))
            for i in tasks:
                if i >= len(self.blocks):
                    break
                lo, hi = self.blocks[i]
                dc: NDArray[np.floating[Any]] = pb.design[lo:hi].astype(dt, copy=False)
                w = dc @ table
                w -= w.max(axis=1, keepdims=True)
                np.exp(w, out=w)
                w /= w.sum(axis=1, keepdims=True)
                full = dc[:, all_cols]
                score = np.zeros((hi - lo, n_par), dtype=dt)
                if n_c:
                    sc = (w @ e_dt).reshape(hi - lo, n_c, p_max) * full[:, :n_c, None]
                    score += np.asarray(mapping_t @ sc.reshape(hi - lo, n_c * p_max).T).T
                for g in range(n_groups):
                    score += full[:, n_c + g : n_c + g + 1] * (w @ group_e_dt[g])
                xtx += syrk(1.0, score, trans=1)  # upper triangle of score^T score
                if pair is not None:
                    for s0 in range(0, full.shape[0], step):
                        fs, ws = full[s0 : s0 + step], w[s0 : s0 + step]
                        pair += fs.T @ (fs[:, :, None] * ws[:, None, :]).reshape(fs.shape[0], c_all * q)
            return xtx, pair

        tasks = itertools.count()
        if self.pool is None:
            parts = [work(tasks)]
        else:
            parts = list(self.pool.map(lambda _: work(tasks), range(self.workers)))
        xtx = np.triu(np.sum([part[0] for part in parts], axis=0))
        xtx = xtx + np.triu(xtx, 1).T
        pair = np.sum([part[1] for part in parts if part[1] is not None], axis=0) if louis else None
        if method == "crossprod":
            info = xtx - self._prior_hessian(n_par)
        else:
            assert pair is not None
            b1 = np.zeros((n_par, n_par))
            pair_q = pair.reshape(c_all, c_all, q)
            for qq in range(q):
                e_q = np.zeros((c_all, n_par))
                e_q[scatter_r, scatter_c] = e_stack[qq, scatter_r, scatter_l]
                e_q[n_c:] = group_e[:, qq, :]
                b1 += e_q.T @ pair_q[:, :, qq] @ e_q
            info = self._expected_hessian(counts, totals, n_par) - (b1 - xtx)
        info = 0.5 * (info + info.T)
        try:
            chol = linalg.cho_factor(info)
            cov = linalg.cho_solve(chol, np.eye(n_par))
        except linalg.LinAlgError:
            warn.append(
                "Standard errors could not be computed: the information matrix is not positive definite "
                "(some parameter is not identified by these data)."
            )
            return None, warn
        return cov, warn

    def _prior_hessian(self, n_par: int) -> FloatArray:
        """Second derivative of the log priors (exact) on the packed parameters."""
        hess = np.zeros((n_par, n_par))
        for bt, idx in self._free_layout():
            if bt.pattern == "1pl":
                continue
            a, c = self.a[bt.items], self.c[bt.items]
            if "a" in bt.pattern and self.a_prior is not None:
                mu, sd = self.a_prior
                u = np.log(a) - mu
                hess[idx[:, 0], idx[:, 0]] += 1 / a**2 - (1 - u) / (sd * sd * a * a)
            if "g" in bt.pattern and self.c_prior is not None:
                al, be = self.c_prior
                hess[idx[:, -1], idx[:, -1]] += -(al + be - 2) * c * (1 - c)
        return hess

    def public_jacobian(self) -> tuple[list[str], FloatArray]:
        """Names of the reported parameters and d(public)/d(packed)."""
        names: list[str] = []
        rows: list[FloatArray] = []
        n_par = self.pack().size
        labels = self.labels
        for bt, idx in self._free_layout():
            for jj, v in enumerate(bt.items):
                it = self.pb.items[int(v)]
                tag = it.item_id if it.group < 0 else f"{it.item_id}@{labels[it.group]}"
                a = float(self.a[v])
                k = bt.n_cat
                d = self.d[v, : k - 1]
                ix = idx[jj]
                has_a = "a" in bt.pattern or bt.pattern == "1pl"
                if has_a:
                    row = np.zeros(n_par)
                    row[ix[0]] = 1.0
                    names.append(f"{tag}.a")
                    rows.append(row)
                off = 1 if has_a else 0
                for kk in range(k - 1):
                    row = np.zeros(n_par)
                    row[ix[off + kk]] = -1.0 / a  # b = -d / a
                    if has_a:
                        row[ix[0]] = d[kk] / a**2
                    names.append(f"{tag}.b{kk + 1}" if k > 2 else f"{tag}.b")
                    rows.append(row)
                if "g" in bt.pattern:
                    row = np.zeros(n_par)
                    cc = float(self.c[v])
                    row[ix[-1]] = cc * (1 - cc)
                    names.append(f"{tag}.c")
                    rows.append(row)
        mean_idx, var_idx = self._latent_layout()
        for g in range(self.pb.n_groups):
            if mean_idx[g] >= 0:
                row = np.zeros(n_par)
                row[mean_idx[g]] = 1.0
                names.append(f"mean@{labels[g]}")
                rows.append(row)
            if var_idx[g] >= 0:
                row = np.zeros(n_par)
                row[var_idx[g]] = self.sigma[g]  # sd = exp(log sd)
                names.append(f"sd@{labels[g]}")
                rows.append(row)
        return names, (np.array(rows) if rows else np.zeros((0, n_par)))

    def parameter_sets(self, se_pub: FloatArray, names: list[str]) -> tuple[list[ItemParameters], list[Any]]:
        pb = self.pb
        labels = self.labels
        lookup = {name: i for i, name in enumerate(names)}
        n_cols = max(it.column for it in pb.items) + 1
        k_max = max(it.n_cat for it in pb.items)
        out_p: list[ItemParameters] = []
        out_s: list[Any] = []
        for g in range(pb.n_groups):
            chosen: dict[int, int] = {}
            for v, it in enumerate(pb.items):
                if it.group < 0 or it.group == g:
                    chosen[it.column] = v
            ids, models = [], []
            a = np.zeros(n_cols)
            b = np.full((n_cols, k_max - 1), np.nan)
            c = np.zeros(n_cols)
            sa = np.full(n_cols, np.nan)
            sb = np.full((n_cols, k_max - 1), np.nan)
            sc = np.full(n_cols, np.nan)
            for col in range(n_cols):
                v = chosen[col]
                it = pb.items[v]
                k = it.n_cat
                ids.append(it.item_id)
                models.append(it.model)
                a[col] = self.a[v]
                b[col, : k - 1] = -self.d[v, : k - 1] / self.a[v]
                c[col] = self.c[v] if it.model == "3pl" else 0.0
                tag = it.item_id if it.group < 0 else f"{it.item_id}@{labels[it.group]}"
                if f"{tag}.a" in lookup:
                    sa[col] = se_pub[lookup[f"{tag}.a"]]
                for kk in range(k - 1):
                    key = f"{tag}.b{kk + 1}" if k > 2 else f"{tag}.b"
                    if key in lookup:
                        sb[col, kk] = se_pub[lookup[key]]
                if f"{tag}.c" in lookup:
                    sc[col] = se_pub[lookup[f"{tag}.c"]]
            out_p.append(ItemParameters(tuple(ids), tuple(models), a, b, c))
            out_s.append(ItemStandardErrors(tuple(ids), tuple(models), sa, sb, sc))
        return out_p, out_s


@dataclass(frozen=True, eq=False)
class ItemStandardErrors:
    """Standard errors shaped like ItemParameters: a (J,), b (J, K_max - 1), c (J,); NaN = not estimated."""

    item_ids: tuple[str, ...]
    model: tuple[str, ...]
    a: FloatArray
    b: FloatArray
    c: FloatArray
