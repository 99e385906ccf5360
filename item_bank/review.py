"""A calibration as a psychometrician reviews it: estimates on the bank's scale with everything to judge them.

:func:`calibrate_for_review` runs the EM calibration and gathers, per item, what a review page shows next to
the estimates: standard errors, the engine's plain-language warnings, classical statistics, S-X2 fit, DIF
between two groups (e.g. language versions) and the bank's current values. Linking to the bank scale is one of

``"anchors"``
    Items with bank values are held fixed at them (fixed-parameter calibration); the latent mean and variance
    are estimated, so the new items land on the bank's scale directly.
``"stocking_lord"`` / ``"haebara"`` / ``"mean_sigma"`` / ``"mean_mean"``
    A free calibration (theta ~ N(0, 1) in this sample), then the linking constants from the common items move
    every estimate to the bank scale.
``"none"``
    A free calibration that defines its own scale (a first calibration of a new bank).

Everything returned converts to JSON with :meth:`CalibrationReview.to_dict` (NaN and infinities become None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from item_bank.irt.calibration import Calibrator, ProgressCallback
from item_bank.irt.classical import item_statistics
from item_bank.irt.dif import mantel_haenszel, mantel_polytomous
from item_bank.irt.fit import s_x2
from item_bank.irt.linking import LINKERS, link
from item_bank.irt.models import DICHOTOMOUS, ItemParameters

__all__ = ["LINKING_METHODS", "CalibrationReview", "ItemReview", "calibrate_for_review"]

LINKING_METHODS = ("anchors", *sorted(LINKERS), "none")
SX2_FLAG_P = 0.01  # misfit flagged below this p (many items are tested at once)


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass
class ItemReview:
    """One item's estimates and the evidence to judge them."""

    item_id: str
    model: str
    a: float
    b: list[float]
    c: float
    se: dict[str, Any]
    anchored: bool
    n: int
    p_value: float
    point_biserial: float
    alpha_if_deleted: float
    sx2: float
    sx2_df: int
    sx2_p: float
    dif: str | None = None
    dif_statistic: float | None = None
    bank: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        found = list(self.warnings)
        if math.isfinite(self.sx2_p) and self.sx2_p < SX2_FLAG_P:
            found.append(f"S-X2 misfit (p = {self.sx2_p:.4f})")
        if self.dif and self.dif.strip("+-") in ("C", "CC", "B", "BB"):
            found.append(f"DIF category {self.dif}")
        if math.isfinite(self.point_biserial) and self.point_biserial < 0.1:
            found.append(f"low item-rest correlation ({self.point_biserial:.2f})")
        return found


@dataclass
class CalibrationReview:
    """The result of :func:`calibrate_for_review`."""

    params: ItemParameters
    items: list[ItemReview]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        items = []
        for item in self.items:
            row = dict(vars(item))
            row["flags"] = item.flags
            items.append(row)
        converted: dict[str, Any] = _finite({"summary": self.summary, "items": items})
        return converted


def _warnings_by_item(
    warnings: Sequence[str], item_ids: Sequence[str]
) -> tuple[dict[str, list[str]], list[str]]:
    per_item: dict[str, list[str]] = {i: [] for i in item_ids}
    general = []
    for text in warnings:
        owners = [i for i in item_ids if f"'{i}'" in text or f"item {i} " in text or f"item {i}:" in text]
        for owner in owners:
            per_item[owner].append(text)
        if not owners:
            general.append(text)
    return per_item, general


def _dif(
    responses: NDArray[np.int64], groups: NDArray[Any] | None, ids: Sequence[str], models: Sequence[str]
) -> tuple[dict[str, tuple[str, float]], dict[str, Any] | None]:
    if groups is None:
        return {}, None
    labels = [g for g in dict.fromkeys(groups.tolist()) if g not in ("", None)]
    if len(labels) != 2:
        return {}, {"skipped": f"DIF needs exactly two groups, found {len(labels)}"}
    reference, focal = labels
    keep = np.isin(groups, labels)
    x, g = responses[keep], groups[keep]
    dich = [j for j, m in enumerate(models) if m in DICHOTOMOUS]
    poly = [j for j, m in enumerate(models) if m not in DICHOTOMOUS]
    found: dict[str, tuple[str, float]] = {}
    # Match on the total score over all items (dichotomous and polytomous): the usual observed criterion.
    matching = np.where(x >= 0, x, 0).sum(axis=1)
    if dich:
        mh = mantel_haenszel(
            x[:, dich],
            g,
            focal=focal,
            reference=reference,
            item_ids=[ids[j] for j in dich],
            matching=matching,
        )
        found.update({i: (e, float(d)) for i, e, d in zip(mh.item_ids, mh.ets, mh.delta, strict=True)})
    if poly:
        pd = mantel_polytomous(
            x[:, poly],
            g,
            focal=focal,
            reference=reference,
            item_ids=[ids[j] for j in poly],
            matching=matching,
        )
        found.update({i: (e, float(s)) for i, e, s in zip(pd.item_ids, pd.ets, pd.effect_size, strict=True)})
    return found, {"reference": str(reference), "focal": str(focal)}


def calibrate_for_review(
    responses: NDArray[np.int64],
    item_ids: Sequence[str],
    models: Sequence[str],
    *,
    bank: ItemParameters | None = None,
    linking: str = "anchors",
    groups: Sequence[Any] | None = None,
    callback: ProgressCallback | None = None,
    n_quad: int = 61,
    max_iter: int = 500,
    tol: float = 1e-4,
) -> CalibrationReview:
    """Calibrate, link to the bank scale, and gather the review evidence.

    Parameters
    ----------
    responses : ndarray of int, shape (N, J)
        Categories 0..K-1, -1 where the item was not presented.
    item_ids, models : sequences of str, length J
        The model of every item (dichotomous and polytomous may be mixed).
    bank : ItemParameters, optional
        Current bank values of (some of) these items: the anchors or common items.
    linking : str
        One of :data:`LINKING_METHODS`.
    groups : sequence, length N, optional
        A group label per person; with exactly two groups every item gets a DIF category.
    callback : callable, optional
        ``callback(iteration, log_likelihood, max_change)`` per EM iteration; may raise to cancel.

    Raises
    ------
    ValueError
        For an unknown linking method, or linking without enough common items (the message says which).
    """
    if linking not in LINKING_METHODS:
        raise ValueError(f"linking must be one of {list(LINKING_METHODS)}, got {linking!r}")
    ids = list(item_ids)
    x = np.asarray(responses, dtype=np.int64)
    common = [i for i in ids if bank is not None and i in bank.item_ids]
    if linking != "none" and not common:
        raise ValueError(
            f"linking by {linking!r} needs items with bank values among the calibrated items; none of "
            f"{len(ids)} items has any (choose linking 'none' for a first calibration)"
        )
    if linking not in ("anchors", "none") and len(common) < 2:
        raise ValueError(f"linking by {linking!r} needs at least 2 common items, got {common}")
    fixed = bank.subset(common) if linking == "anchors" and bank is not None else None
    models_used = [
        fixed.model[fixed.index(i)] if fixed is not None and i in common else m
        for i, m in zip(ids, models, strict=True)
    ]
    calibrator = Calibrator(
        models_used, n_quad=n_quad, max_iter=max_iter, tol=tol, fixed=fixed, callback=callback
    ).fit(x, item_ids=ids)
    params = calibrator.params_
    se: Any = calibrator.se_
    linking_result: dict[str, Any] = {"method": linking, "common_items": common}
    mean, sd = float(calibrator.latent_mean_[0]), float(calibrator.latent_sd_[0])
    if linking not in ("anchors", "none") and bank is not None:
        result = link(params.subset(common), bank.subset(common), linking)
        params = result.transform(params)
        slope = result.slope
        se = _scaled_se(se, slope)
        linking_result.update(slope=result.slope, intercept=result.intercept, converged=result.converged)
        mean, sd = slope * mean + result.intercept, slope * sd
    classical = item_statistics(np.where(x >= 0, x, -1), item_ids=ids, max_scores=params.n_categories - 1)
    fit = s_x2(params, x, prior_mean=mean, prior_sd=sd, n_quad=n_quad)
    dif, dif_groups = _dif(x, None if groups is None else np.asarray(groups, dtype=object), ids, models_used)
    per_item_warnings, general = _warnings_by_item(calibrator.warnings_, ids)
    items = []
    for j, item_id in enumerate(ids):
        k = int(params.n_categories[j]) - 1
        anchored = fixed is not None and item_id in common
        bank_row = None
        if bank is not None and item_id in bank.item_ids:
            jb = bank.index(item_id)
            kb = int(bank.n_categories[jb]) - 1
            bank_row = {
                "model": bank.model[jb],
                "a": float(bank.a[jb]),
                "b": bank.b[jb, :kb].tolist(),
                "c": float(bank.c[jb]),
            }
        items.append(
            ItemReview(
                item_id=item_id,
                model=params.model[j],
                a=float(params.a[j]),
                b=params.b[j, :k].tolist(),
                c=float(params.c[j]),
                se={"a": float(se.a[j]), "b": np.asarray(se.b)[j, :k].tolist(), "c": float(se.c[j])},
                anchored=anchored,
                n=int(classical.n[j]),
                p_value=float(classical.p_value[j]),
                point_biserial=float(classical.point_biserial[j]),
                alpha_if_deleted=float(classical.alpha_if_deleted[j]),
                sx2=float(fit.statistic[j]),
                sx2_df=int(fit.df[j]),
                sx2_p=float(fit.p[j]),
                dif=dif.get(item_id, (None, None))[0],
                dif_statistic=dif.get(item_id, (None, None))[1],
                bank=bank_row,
                warnings=per_item_warnings[item_id],
            )
        )
    summary = {
        "n_persons": int(calibrator.n_persons_),
        "n_items": len(ids),
        "log_likelihood": float(calibrator.log_likelihood_),
        "aic": float(calibrator.aic_),
        "bic": float(calibrator.bic_),
        "n_parameters": int(calibrator.n_parameters_),
        "iterations": int(calibrator.n_iter_),
        "converged": bool(calibrator.converged_),
        "latent_mean": mean,
        "latent_sd": sd,
        "alpha": float(classical.alpha),
        "sx2_complete_rows": int(fit.n_persons),
        "linking": linking_result,
        "dif_groups": dif_groups,
        "warnings": general,
    }
    return CalibrationReview(params=params, items=items, summary=summary)


@dataclass(frozen=True)
class _ScaledSE:
    a: NDArray[np.float64]
    b: NDArray[np.float64]
    c: NDArray[np.float64]


def _scaled_se(se: Any, slope: float) -> _ScaledSE:
    # theta_base = A theta_new + B: b scales by A, a by 1/A, c is unchanged (delta method with A, B treated
    # as known, as linking reports conventionally do).
    return _ScaledSE(a=np.asarray(se.a) / slope, b=np.asarray(se.b) * slope, c=np.asarray(se.c))
