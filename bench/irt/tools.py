"""Adapters: one per calibrator, each turning our (N, J) int8 responses (-1 missing) into the tool's input,
timing the tool's own fit call alone, and converting its output to a, b (J, K-1), c on the logistic metric.

Conversions that are not the identity: rasch-irt reports a on the normal-ogive-scaled metric (its
``D = 1.702`` is inside the logistic), so its a is multiplied by 1.702; girth wants items x persons with
``girth.INVALID_RESPONSE`` for missing. Every other tool already reports a and b (thresholds) on the logistic
metric; this was checked by recovering known parameters (see README).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALL_MODELS = ("2pl", "3pl", "grm")


@dataclass
class FitOut:
    """Estimates on the logistic metric plus the tool's own bookkeeping."""

    a: np.ndarray
    b: np.ndarray  # (J, K-1), NaN padded
    c: np.ndarray | None
    fit_s: float
    n_iter: int | None
    converged: bool | None
    settings: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    """A calibrator under test: what it can fit and how to call it."""

    name: str
    packages: tuple[str, ...]
    models: tuple[str, ...]
    missing_ok: bool
    fit: Callable[[np.ndarray, str, int], FitOut]
    unsupported: str = ""
    peer: bool = True
    prior: bool = False  # Bayes modal (priors on item parameters) rather than plain marginal ML
    diagnostic: bool = False  # a Tandau setting variant for `replicate`; not part of `run`'s default tools


def _as_jk(b: Any, n_items: int) -> np.ndarray:
    arr = np.asarray(b, dtype=np.float64)
    return arr.reshape(n_items, -1)


def _tandau(**overrides: Any) -> Callable[[np.ndarray, str, int], FitOut]:
    def fit(x: np.ndarray, model: str, n_cat: int) -> FitOut:
        from item_bank.irt.calibration import Calibrator

        cal = Calibrator(model=model, **overrides)
        t0 = time.perf_counter()
        cal.fit(x)
        fit_s = time.perf_counter() - t0
        p = cal.params_
        shown = ("n_quad", "theta_range", "tol", "max_iter", "dtype", "se_method", "acceleration", "c_prior")
        hyper = ", ".join(f"{k}={getattr(cal, k)!r}" for k in shown if hasattr(cal, k))
        return FitOut(
            a=np.asarray(p.a, dtype=np.float64),
            b=_as_jk(p.b, x.shape[1]),
            c=np.asarray(p.c, dtype=np.float64),
            fit_s=fit_s,
            n_iter=int(cal.n_iter_),
            converged=bool(cal.converged_),
            settings=f"Tandau Calibrator({hyper})"
            + (" [overrides: " + repr(overrides) + "]" if overrides else ""),
            extra={"tandau_warnings": list(getattr(cal, "warnings_", []))[:5]},
        )

    return fit


def _fit_ref(x: np.ndarray, model: str, n_cat: int) -> FitOut:
    from bench.irt.refem import fit_2pl

    t0 = time.perf_counter()
    a, b, n_iter, converged = fit_2pl(x)
    fit_s = time.perf_counter() - t0
    return FitOut(
        a, b[:, None], None, fit_s, n_iter, converged, "numpy 2PL EM, Q=61 on [-6,6], tol=1e-4, float64"
    )


def _fit_girth(x: np.ndarray, model: str, n_cat: int) -> FitOut:
    import girth

    data = x.T.astype(np.int64)
    data[data < 0] = girth.INVALID_RESPONSE
    fn = {"2pl": girth.twopl_mml, "3pl": girth.threepl_mml, "grm": girth.grm_mml}[model]
    t0 = time.perf_counter()
    res = fn(data)
    fit_s = time.perf_counter() - t0
    c = res.get("Guessing")
    return FitOut(
        a=np.asarray(res["Discrimination"], dtype=np.float64).ravel(),
        b=_as_jk(res["Difficulty"], x.shape[1]),
        c=None if c is None else np.asarray(c, dtype=np.float64).ravel(),
        fit_s=fit_s,
        n_iter=None,
        converged=None,
        settings=f"girth {fn.__name__} defaults (41 quadrature points, max_iteration=25; no iteration count)",
    )


def _pymirt(n_quadpts: int | None) -> Callable[[np.ndarray, str, int], FitOut]:
    def fit(x: np.ndarray, model: str, n_cat: int) -> FitOut:
        import mirt

        kw: dict[str, Any] = {"model": model.upper(), "compute_standard_errors": False}
        if model == "grm":
            kw["n_categories"] = n_cat
        if n_quadpts is not None:
            kw["n_quadpts"] = n_quadpts
        data = x.astype(np.int64)
        t0 = time.perf_counter()
        res = mirt.fit_mirt(data, **kw)
        fit_s = time.perf_counter() - t0
        p = res.model.parameters
        b = p["thresholds"] if model == "grm" else p["difficulty"]
        c = p.get("guessing")
        quad = "default(21)" if n_quadpts is None else str(n_quadpts)
        return FitOut(
            a=np.asarray(p["discrimination"], dtype=np.float64).ravel(),
            b=_as_jk(b, x.shape[1]),
            c=None if c is None else np.asarray(c, dtype=np.float64).ravel(),
            fit_s=fit_s,
            n_iter=int(res.n_iterations),
            converged=bool(res.converged),
            settings=f"mirt(py) fit_mirt EM n_quadpts={quad} tol=1e-4 max_iter=500 SE off",
        )

    return fit


def _fit_rasch_irt(x: np.ndarray, model: str, n_cat: int) -> FitOut:
    from rasch_irt.core import D
    from rasch_irt.mml_em import MMLConfig, run_mml_em

    data = x.T.astype(np.float64)
    config = MMLConfig(model_type=3 if model == "3pl" else 2)
    t0 = time.perf_counter()
    res = run_mml_em(data, config)
    fit_s = time.perf_counter() - t0
    return FitOut(
        a=np.asarray(res.a, dtype=np.float64) * D,
        b=_as_jk(res.b, x.shape[1]),
        c=np.asarray(res.c, dtype=np.float64) if model == "3pl" else None,
        fit_s=fit_s,
        n_iter=int(res.iterations),
        converged=bool(res.converged),
        settings=(
            f"rasch-irt run_mml_em defaults (21 GH points, tol=1e-4 on log-lik, max_iter=500, "
            f"lognormal prior on a, Beta prior on c, includes its EAP); a x {D} to the logistic metric"
        ),
    )


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("girth", ("girth",), ALL_MODELS, True, _fit_girth),
        Tool("pymirt", ("mirt",), ALL_MODELS, True, _pymirt(None)),
        Tool("pymirt_q61", ("mirt",), ALL_MODELS, True, _pymirt(61)),
        Tool(
            "rasch_irt",
            ("rasch-irt",),
            ("2pl", "3pl"),
            False,
            _fit_rasch_irt,
            unsupported="dichotomous only; no missing-data coding (complete 0/1 matrix)",
            prior=True,
        ),
        Tool("ref_numpy_em", (), ("2pl",), True, _fit_ref, unsupported="2PL only (reference baseline)"),
        # Defaults as the product calls it: standard errors (Louis) included, Beta(5, 17) prior on 3PL c.
        Tool("tandau", ("numpy", "scipy"), ALL_MODELS, True, _tandau(), peer=False),
        # Like the peers, which are run without standard errors.
        Tool("tandau_se_off", ("numpy", "scipy"), ALL_MODELS, True, _tandau(se_method=None), peer=False),
        # Diagnostic variants of Tandau's settings (estimates only, so without standard errors): quadrature
        # nodes and range, a strict stopping rule in float64, and the 3PL c prior off.
        *(
            Tool(
                name,
                ("numpy", "scipy"),
                ALL_MODELS,
                True,
                _tandau(se_method=None, **kw),
                peer=False,
                diagnostic=True,
            )
            for name, kw in (
                ("tandau_q41", {"n_quad": 41}),
                ("tandau_q81", {"n_quad": 81}),
                ("tandau_r5", {"theta_range": (-5.0, 5.0)}),
                ("tandau_strict", {"dtype": "float64", "tol": 1e-6}),
                ("tandau_noprior", {"c_prior": None}),
            )
        ),
    )
}
DEFAULT_TOOLS = tuple(name for name, t in TOOLS.items() if not t.diagnostic)
PEERS = tuple(name for name, t in TOOLS.items() if t.peer and name != "ref_numpy_em")
