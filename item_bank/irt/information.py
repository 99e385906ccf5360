"""Test information and conditional standard error of measurement (SEM) curves.

Thin wrappers over :func:`item_bank.irt.models.item_information`, which holds the maths
(``I_j(theta) = sum_k (dP_jk/dtheta)^2 / P_jk``); this module only arranges it into curves over a theta grid
and into per-person information for the items each person was actually given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from item_bank.irt.models import ItemParameters, check_responses, item_information

__all__ = [
    "DEFAULT_THETA_GRID",
    "InformationCurves",
    "conditional_sem",
    "information_curves",
    "person_information",
]

FloatArray = NDArray[np.float64]

DEFAULT_THETA_GRID: FloatArray = np.linspace(-4.0, 4.0, 81)
"""Grid used when none is given: -4..4 in steps of 0.1."""


@dataclass(frozen=True)
class InformationCurves:
    """Information and conditional SEM over a theta grid.

    Attributes
    ----------
    theta : ndarray, shape (G,)
    item : ndarray, shape (G, J)
        Item information ``I_j(theta_g)``.
    test : ndarray, shape (G,)
        Test information ``I(theta) = sum_j I_j(theta)``.
    sem : ndarray, shape (G,)
        Conditional standard error of measurement ``1 / sqrt(I(theta))`` (inf where I = 0).
    """

    theta: FloatArray
    item: FloatArray
    test: FloatArray
    sem: FloatArray


def information_curves(params: ItemParameters, theta: ArrayLike | None = None) -> InformationCurves:
    """Item and test information and conditional SEM at each grid point (default -4..4 by 0.1)."""
    grid = DEFAULT_THETA_GRID if theta is None else np.asarray(theta, dtype=np.float64).reshape(-1)
    item = item_information(params, grid)
    test = item.sum(axis=1)
    with np.errstate(divide="ignore"):
        sem = 1.0 / np.sqrt(test)
    return InformationCurves(theta=grid.copy(), item=item, test=test, sem=sem)


def conditional_sem(params: ItemParameters, theta: ArrayLike) -> FloatArray:
    """Conditional SEM ``1 / sqrt(I(theta))`` of the whole test, shape (G,)."""
    return information_curves(params, theta).sem


def person_information(params: ItemParameters, theta: ArrayLike, responses: ArrayLike) -> FloatArray:
    """Test information of each person's own items at the person's theta.

    ``I_n = sum_{j observed for n} I_j(theta_n)``: items not presented (-1) contribute nothing.

    Parameters
    ----------
    params : ItemParameters
        J items.
    theta : array_like, shape (N,)
    responses : array_like of int, shape (N, J)

    Returns
    -------
    ndarray, shape (N,)
        NaN where theta is NaN (a person without an estimate).
    """
    x = check_responses(params, responses)
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.shape[0] != x.shape[0]:
        raise ValueError(f"theta has {th.shape[0]} entries for {x.shape[0]} persons")
    out = np.full(th.shape[0], np.nan)
    rows = np.flatnonzero(np.isfinite(th))
    block = max(1, 2**22 // max(1, params.n_items))
    for start in range(0, rows.shape[0], block):
        r = rows[start : start + block]
        info = item_information(params, th[r])
        out[r] = np.where(x[r] >= 0, info, 0.0).sum(axis=1)
    return out
