"""Scale linking from common items: mean-mean, mean-sigma, Haebara and Stocking-Lord.

Two calibrations share some items: ``new`` (scale X, e.g. this year's pretest) and ``base`` (scale Y, the
bank). Linking finds the slope A and intercept B of ``theta_Y = A theta_X + B``, under which the new
parameters become ``a_Y = a_X / A``, ``b_Y = A b_X + B`` (every threshold and step of polytomous items alike)
and ``c_Y = c_X`` (see :func:`transform_parameters`). Common items are matched by item id, in the order of
``new``.

Moment methods (Kolen & Brennan, 2014, ch. 6), with the b's of all common items pooled (polytomous thresholds
included, as in STUIRT) and population standard deviations:

* mean-mean (Loyd & Hoover, 1980): ``A = mean(a_X) / mean(a_Y)``, ``B = mean(b_Y) - A mean(b_X)``;
* mean-sigma (Marco, 1977): ``A = sd(b_Y) / sd(b_X)``, same B.

Characteristic-curve methods minimise, over (A, B) with scipy's Nelder-Mead from the mean-sigma solution, a
weighted sum over ability points ``t_q`` on the base scale with weights ``w_q``:

* Haebara (1980): ``sum_q w_q sum_j sum_k (P_jk(t_q; Y) - P_jk(t_q; X -> Y))^2`` (all categories, as Kim &
  Lee's 2006 extension to mixed formats; for dichotomous items this is twice the usual sum and has the same
  minimum);
* Stocking-Lord (1983): ``sum_q w_q (sum_j E_j(t_q; Y) - sum_j E_j(t_q; X -> Y))^2`` with E the expected item
  score.

``symmetric=True`` adds the same criterion on the new scale (Y's items moved to X, points ``new_theta`` with
weights ``new_weights``), as STUIRT's symmetric option. By default the points are ``linspace(-4, 4, 41)``
weighted by the standard normal density (the base calibration population), on both scales.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from item_bank.irt.models import ItemParameters, category_probabilities, expected_score

__all__ = [
    "LINKERS",
    "Linker",
    "LinkingResult",
    "common_items",
    "haebara",
    "link",
    "mean_mean",
    "mean_sigma",
    "stocking_lord",
    "transform_parameters",
]

FloatArray = NDArray[np.float64]

DEFAULT_LINKING_THETA: FloatArray = np.linspace(-4.0, 4.0, 41)
"""Default ability points of the characteristic-curve criteria."""


def transform_parameters(params: ItemParameters, slope: float, intercept: float) -> ItemParameters:
    """Put item parameters on the scale ``theta' = slope * theta + intercept``.

    ``a' = a / slope``, ``b' = slope * b + intercept`` (all thresholds/steps), ``c' = c``. Rasch and PCM items
    then have ``a' = 1 / slope``: the probabilities, not the unit slope, are what linking preserves.
    """
    if not (np.isfinite(slope) and slope > 0 and np.isfinite(intercept)):
        raise ValueError(
            f"slope must be positive and finite and intercept finite, got A={slope!r}, B={intercept!r}"
        )
    return ItemParameters(
        params.item_ids, params.model, params.a / slope, params.b * slope + intercept, params.c
    )


@dataclass(frozen=True)
class LinkingResult:
    """Linking constants: slope A and intercept B of ``theta_base = A * theta_new + B``.

    Attributes
    ----------
    method : str
        Key in :data:`LINKERS`.
    slope, intercept : float
        A and B of ``theta_base = A * theta_new + B``.
    common_items : tuple of str
    criterion : float
        Minimised criterion (NaN for the moment methods).
    converged : bool
        The optimiser's success flag (True for the moment methods).
    """

    method: str
    slope: float
    intercept: float
    common_items: tuple[str, ...]
    criterion: float = float("nan")
    converged: bool = True

    def transform(self, params: ItemParameters) -> ItemParameters:
        """``params`` (on the new scale) moved to the base scale."""
        return transform_parameters(params, self.slope, self.intercept)

    def transform_theta(self, theta: ArrayLike) -> FloatArray:
        """Abilities on the new scale moved to the base scale."""
        return self.slope * np.asarray(theta, dtype=np.float64) + self.intercept

    def transform_se(self, se: ArrayLike) -> FloatArray:
        """Standard errors of theta on the new scale, on the base scale (``A * se``)."""
        return self.slope * np.asarray(se, dtype=np.float64)


def common_items(new: ItemParameters, base: ItemParameters) -> tuple[ItemParameters, ItemParameters]:
    """The items both calibrations share, in the order of ``new``, as two aligned ItemParameters.

    Raises
    ------
    ValueError
        No common item, or a common item with a different model or number of categories in the two sets.
    """
    ids = [i for i in new.item_ids if i in set(base.item_ids)]
    if not ids:
        raise ValueError("the two parameter sets have no item id in common")
    x, y = new.subset(ids), base.subset(ids)
    for j, item in enumerate(ids):
        if x.model[j] != y.model[j] or x.n_categories[j] != y.n_categories[j]:
            raise ValueError(
                f"item {item!r}: model {x.model[j]}/{int(x.n_categories[j])} categories in the new "
                f"set but {y.model[j]}/{int(y.n_categories[j])} in the base set"
            )
    return x, y


def _difficulties(params: ItemParameters) -> FloatArray:
    return params.b[np.isfinite(params.b)]


class Linker(Protocol):
    """Signature shared by the entries of :data:`LINKERS`."""

    def __call__(
        self,
        new: ItemParameters,
        base: ItemParameters,
        *,
        theta: ArrayLike | None = ...,
        weights: ArrayLike | None = ...,
        new_theta: ArrayLike | None = ...,
        new_weights: ArrayLike | None = ...,
        symmetric: bool = ...,
    ) -> LinkingResult: ...


def mean_mean(
    new: ItemParameters,
    base: ItemParameters,
    *,
    theta: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    new_theta: ArrayLike | None = None,
    new_weights: ArrayLike | None = None,
    symmetric: bool = False,
) -> LinkingResult:
    """Mean-mean linking: ``A = mean(a_X) / mean(a_Y)``, ``B = mean(b_Y) - A mean(b_X)``.

    The curve arguments are accepted for a common signature and ignored.
    """
    x, y = common_items(new, base)
    slope = float(np.mean(x.a) / np.mean(y.a))
    intercept = float(np.mean(_difficulties(y)) - slope * np.mean(_difficulties(x)))
    return LinkingResult("mean_mean", slope, intercept, x.item_ids)


def mean_sigma(
    new: ItemParameters,
    base: ItemParameters,
    *,
    theta: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    new_theta: ArrayLike | None = None,
    new_weights: ArrayLike | None = None,
    symmetric: bool = False,
) -> LinkingResult:
    """Mean-sigma linking: ``A = sd(b_Y) / sd(b_X)`` (population SDs), ``B = mean(b_Y) - A mean(b_X)``."""
    x, y = common_items(new, base)
    bx, by = _difficulties(x), _difficulties(y)
    if bx.size < 2 or np.std(bx) == 0:
        raise ValueError(f"mean-sigma needs difficulties that vary; got {bx.size} value(s) {bx.tolist()}")
    slope = float(np.std(by) / np.std(bx))
    return LinkingResult("mean_sigma", slope, float(np.mean(by) - slope * np.mean(bx)), x.item_ids)


def _points(theta: ArrayLike | None, weights: ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    points = DEFAULT_LINKING_THETA if theta is None else np.asarray(theta, dtype=np.float64).reshape(-1)
    if weights is None:
        w = np.exp(-0.5 * points * points)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != points.shape or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValueError(f"weights must be {points.shape[0]} non-negative numbers, not all 0")
    return points, w / w.sum()


Curve = Callable[[ItemParameters, FloatArray], FloatArray]


def _characteristic_curve_link(
    method: str,
    curve: Curve,
    new: ItemParameters,
    base: ItemParameters,
    theta: ArrayLike | None,
    weights: ArrayLike | None,
    new_theta: ArrayLike | None,
    new_weights: ArrayLike | None,
    symmetric: bool,
) -> LinkingResult:
    x, y = common_items(new, base)
    t_y, w_y = _points(theta, weights)
    t_x, w_x = _points(
        new_theta if new_theta is not None else theta,
        new_weights if new_theta is not None or new_weights is not None else weights,
    )
    target_y = curve(y, t_y)
    target_x = curve(x, t_x) if symmetric else None

    def criterion(v: FloatArray) -> float:
        slope, intercept = float(v[0]), float(v[1])
        if not slope > 0:
            return float("inf")
        loss = float(
            np.sum(
                w_y
                * np.sum(
                    ((target_y - curve(transform_parameters(x, slope, intercept), t_y)) ** 2).reshape(
                        t_y.shape[0], -1
                    ),
                    axis=1,
                )
            )
        )
        if target_x is not None:
            moved = transform_parameters(y, 1.0 / slope, -intercept / slope)
            loss += float(
                np.sum(w_x * np.sum(((target_x - curve(moved, t_x)) ** 2).reshape(t_x.shape[0], -1), axis=1))
            )
        return loss

    try:
        start = mean_sigma(x, y)
        x0 = np.array([start.slope, start.intercept])
    except ValueError:
        x0 = np.array([1.0, 0.0])
    if not np.all(np.isfinite(x0)) or x0[0] <= 0:
        x0 = np.array([1.0, 0.0])
    result = optimize.minimize(
        criterion,
        x0,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-16, "maxiter": 10_000, "maxfev": 20_000},
    )
    return LinkingResult(
        method, float(result.x[0]), float(result.x[1]), x.item_ids, float(result.fun), bool(result.success)
    )


def _category_curves(params: ItemParameters, theta: FloatArray) -> FloatArray:
    return category_probabilities(params, theta)


def _test_characteristic_curve(params: ItemParameters, theta: FloatArray) -> FloatArray:
    return expected_score(params, theta).sum(axis=1)  # type: ignore[no-any-return]


def haebara(
    new: ItemParameters,
    base: ItemParameters,
    *,
    theta: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    new_theta: ArrayLike | None = None,
    new_weights: ArrayLike | None = None,
    symmetric: bool = False,
) -> LinkingResult:
    """Haebara's item characteristic curve method (see the module docstring for the criterion)."""
    return _characteristic_curve_link(
        "haebara", _category_curves, new, base, theta, weights, new_theta, new_weights, symmetric
    )


def stocking_lord(
    new: ItemParameters,
    base: ItemParameters,
    *,
    theta: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    new_theta: ArrayLike | None = None,
    new_weights: ArrayLike | None = None,
    symmetric: bool = False,
) -> LinkingResult:
    """Stocking and Lord's test characteristic curve method (see the module docstring for the criterion)."""
    return _characteristic_curve_link(
        "stocking_lord",
        _test_characteristic_curve,
        new,
        base,
        theta,
        weights,
        new_theta,
        new_weights,
        symmetric,
    )


LINKERS: dict[str, Linker] = {
    "mean_mean": mean_mean,
    "mean_sigma": mean_sigma,
    "haebara": haebara,
    "stocking_lord": stocking_lord,
}
"""Linking methods by name; Stocking-Lord is the default of :func:`link`."""


def link(
    new: ItemParameters,
    base: ItemParameters,
    method: str = "stocking_lord",
    *,
    theta: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    new_theta: ArrayLike | None = None,
    new_weights: ArrayLike | None = None,
    symmetric: bool = False,
) -> LinkingResult:
    """Link ``new`` to ``base`` with the method named ``method`` (a key of :data:`LINKERS`)."""
    try:
        linker = LINKERS[method]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(LINKERS)}, got {method!r}") from None
    return linker(
        new,
        base,
        theta=theta,
        weights=weights,
        new_theta=new_theta,
        new_weights=new_weights,
        symmetric=symmetric,
    )
