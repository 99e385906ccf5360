"""Simulated data sets with known true parameters, written once as ``.npz`` and shared by every tool.

Generating model (psychometrics.md §3): theta ~ N(0, 1); a ~ lognormal(0.1, 0.3) clipped to [0.4, 3.0];
2PL/3PL b ~ N(0, 1) clipped to ±2.5; 3PL c ~ U(0.05, 0.30); GRM with 5 categories, four thresholds = item
centre ~ N(0, 0.8) plus centred cumulative U(0.5, 1.3) steps. Logistic metric (no 1.702). The 10 %-missing
file of a cell is the complete file with MCAR holes (same persons, same truth, same observed responses).
Responses are ``int8`` (N, J) with ``-1`` for missing. ``Cell.rep`` > 0 names a replication of a cell (its own
seeds for truth, persons and holes; ``python -m bench.irt replicate``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED_BASE = 20240611
MODELS = ("2pl", "3pl", "grm")
SIZES: dict[str, tuple[int, int]] = {
    "small": (2_000, 40),
    "medium": (20_000, 100),
    "large": (100_000, 200),
}
MISSING_RATES = (0.0, 0.1)
GRM_CATEGORIES = 5
# Person blocks for simulation, so that the (N, J, K-1) GRM probability tensor stays small.
_BLOCK = 10_000

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
DATA_DIR = RESULTS_DIR / "data"


@dataclass(frozen=True)
class Cell:
    """One data set: model, size name and missing rate."""

    model: str
    size: str
    missing: float
    rep: int = 0  # replication: 0 is the benchmark's file, 1.. are fresh draws (truth, persons, holes)

    @property
    def shape(self) -> tuple[int, int]:
        return SIZES[self.size]

    @property
    def label(self) -> str:
        n, j = self.shape
        return f"{n}x{j}"

    @property
    def key(self) -> str:
        base = f"{self.model}_{self.size}_m{round(self.missing * 100):02d}"
        return base if self.rep == 0 else f"{base}_r{self.rep:02d}"

    @property
    def path(self) -> Path:
        return DATA_DIR / f"{self.key}.npz"


def true_parameters(model: str, n_items: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw true item parameters: ``a`` (J,), ``b`` (J, K-1) (K-1 = 1 for dichotomous), ``c`` (J,)."""
    a = np.clip(rng.lognormal(0.1, 0.3, n_items), 0.4, 3.0)
    if model == "grm":
        centre = rng.normal(0.0, 0.8, n_items)
        steps = rng.uniform(0.5, 1.3, (n_items, GRM_CATEGORIES - 2))
        cum = np.concatenate([np.zeros((n_items, 1)), np.cumsum(steps, axis=1)], axis=1)
        b = centre[:, None] + cum - cum.mean(axis=1, keepdims=True)
    else:
        b = np.clip(rng.normal(0.0, 1.0, n_items), -2.5, 2.5)[:, None]
    c = rng.uniform(0.05, 0.30, n_items) if model == "3pl" else np.zeros(n_items)
    return {"a": a, "b": b, "c": c}


def simulate_responses(
    model: str, params: dict[str, np.ndarray], theta: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw complete int8 responses (N, J) for ``theta`` (N,) under ``model``."""
    a, b, c = params["a"], params["b"], params["c"]
    out = np.empty((theta.size, a.size), dtype=np.int8)
    for start in range(0, theta.size, _BLOCK):
        th = theta[start : start + _BLOCK]
        # P(X >= k) for k = 1..K-1, shape (n, J, K-1); for dichotomous K-1 = 1.
        p_ge = 1.0 / (1.0 + np.exp(-a[None, :, None] * (th[:, None, None] - b[None, :, :])))
        if model == "3pl":
            p_ge = c[None, :, None] + (1.0 - c[None, :, None]) * p_ge
        u = rng.random((th.size, a.size, 1))
        # Category = number of cumulative boundaries passed (boundaries are ordered, so this is exact).
        out[start : start + th.size] = (u < p_ge).sum(axis=2)
    return out


def _seed(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([SEED_BASE, *parts])


def make_cell(cell: Cell) -> Path:
    """Write ``cell``'s ``.npz`` if it is not there yet; return its path."""
    if cell.path.exists():
        return cell.path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    n, j = cell.shape
    m_idx, s_idx = MODELS.index(cell.model), list(SIZES).index(cell.size)
    # Replication 0 keeps the original seeds (the benchmark's file); replication r > 0 draws everything anew.
    rep_parts = () if cell.rep == 0 else (0, cell.rep)
    rng = np.random.default_rng(_seed(m_idx, s_idx, *rep_parts))
    params = true_parameters(cell.model, j, rng)
    theta = rng.standard_normal(n)
    x = simulate_responses(cell.model, params, theta, rng)
    if cell.missing > 0:
        hole_seed = _seed(m_idx, s_idx, round(cell.missing * 100), *((cell.rep,) if cell.rep else ()))
        holes = np.random.default_rng(hole_seed).random((n, j))
        x[holes < cell.missing] = -1
    meta = {
        "model": cell.model,
        "size": cell.size,
        "n_persons": n,
        "n_items": j,
        "missing": cell.missing,
        "seed": [SEED_BASE, m_idx, s_idx, *rep_parts],
        "rep": cell.rep,
        "n_categories": GRM_CATEGORIES if cell.model == "grm" else 2,
        "observed_missing": float((x < 0).mean()),
    }
    tmp = cell.path.with_suffix(f".{os.getpid()}.tmp.npz")  # concurrent runs may write the same file
    np.savez_compressed(tmp, X=x, theta=theta, meta=json.dumps(meta), **params)
    tmp.replace(cell.path)
    return cell.path


def load_cell(path: Path) -> dict[str, np.ndarray | dict[str, object]]:
    """Load responses, truth and metadata of one data set."""
    with np.load(path) as z:
        out: dict[str, np.ndarray | dict[str, object]] = {k: z[k] for k in ("X", "theta", "a", "b", "c")}
        out["meta"] = json.loads(str(z["meta"]))
    return out
