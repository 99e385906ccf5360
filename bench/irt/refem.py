"""A plain numpy 2PL MML-EM (Bock-Aitkin), the reference row of the benchmark.

It is the ~100-line baseline of psychometrics.md §4: Q fixed nodes on [-6, 6] with N(0, 1) weights, one GEMM
for the E-step likelihood (two with missing data), one (two) for the expected counts, vectorised Newton steps
on (a, d = -a·b) in the M-step, stop when no parameter moves more than ``tol``. float64, library BLAS threads.
It shows what an unoptimised EM costs on this machine; Tandau's calibrator should be at least as fast.
"""

from __future__ import annotations

import numpy as np


def fit_2pl(
    x: np.ndarray, n_quad: int = 61, tol: float = 1e-4, max_iter: int = 500
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Fit a 2PL to ``x`` (N, J) with 0/1 and -1 for missing; return ``(a, b, n_iter, converged)``."""
    nodes = np.linspace(-6.0, 6.0, n_quad)
    log_prior = -0.5 * nodes**2
    log_prior -= np.log(np.exp(log_prior).sum())
    observed = x >= 0
    complete = bool(observed.all())
    y = np.where(observed, x, 0).astype(np.float64)
    mask = observed.astype(np.float64)
    n_items = x.shape[1]
    p_obs = np.clip(y.sum(0) / mask.sum(0), 0.01, 0.99)
    a = np.ones(n_items)
    d = np.log(p_obs / (1.0 - p_obs)) * 1.2
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        z = a[:, None] * nodes[None, :] + d[:, None]  # (J, Q)
        log_p = -np.logaddexp(0.0, -z)
        log_q = -np.logaddexp(0.0, z)
        # Missing responses contribute nothing: the log(1-P) term is summed over observed cells only.
        log_lik = y @ (log_p - log_q) + (log_q.sum(0) if complete else mask @ log_q) + log_prior
        log_lik -= log_lik.max(axis=1, keepdims=True)
        w = np.exp(log_lik)
        w /= w.sum(axis=1, keepdims=True)
        r1 = y.T @ w  # (J, Q) expected correct
        n_q = np.broadcast_to(w.sum(0), r1.shape) if complete else mask.T @ w
        a_old, d_old = a.copy(), d.copy()
        for _ in range(4):
            z = a[:, None] * nodes[None, :] + d[:, None]
            p = 1.0 / (1.0 + np.exp(-z))
            res = r1 - n_q * p
            info = n_q * p * (1.0 - p)
            g_a, g_d = (res * nodes).sum(1), res.sum(1)
            h_aa, h_ad, h_dd = (info * nodes**2).sum(1), (info * nodes).sum(1), info.sum(1)
            det = h_aa * h_dd - h_ad**2
            step_a = (h_dd * g_a - h_ad * g_d) / det
            step_d = (h_aa * g_d - h_ad * g_a) / det
            a = np.clip(a + np.clip(step_a, -1.0, 1.0), 0.05, 10.0)
            d = d + np.clip(step_d, -2.0, 2.0)
        if max(np.abs(a - a_old).max(), np.abs(d - d_old).max()) < tol:
            converged = True
            break
    return a, -d / a, n_iter, converged
