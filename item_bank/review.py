"""A calibration as a psychometrician reviews it: estimates on the bank's scale with everything to judge them.

:func:`calibrate_for_review` runs the EM calibration and gathers, per item, what a review page shows next to
the estimates: standard errors, the engine's plain-language warnings, classical statistics, S-X2 fit, DIF
between groups (e.g. language versions): Mantel-Haenszel with two groups and IRT likelihood-ratio DIF with two
or more (mirt's ``DIF(scheme = "add")``); and the bank's current values, which :func:`bank_comparison` sets
against the new estimates. Linking to the bank scale is one of

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from item_bank.irt.calibration import Calibrator, ProgressCallback
from item_bank.irt.classical import item_statistics
from item_bank.irt.dif import likelihood_ratio_dif, mantel_haenszel, mantel_polytomous
from item_bank.irt.fit import s_x2
from item_bank.irt.linking import LINKERS, link
from item_bank.irt.models import DICHOTOMOUS, ItemParameters

__all__ = [
    "DRIFT_Z",
    "LINKING_METHODS",
    "LR_DIF_FLAG_P",
    "CalibrationReview",
    "ItemReview",
    "bank_comparison",
    "benjamini_hochberg",
    "calibrate_for_review",
]

LINKING_METHODS = ("anchors", *sorted(LINKERS), "none")
SX2_FLAG_P = 0.01  # misfit flagged below this p (many items are tested at once)
LR_DIF_FLAG_P = 0.05  # LR DIF flagged below this Benjamini-Hochberg adjusted p (mirt: p.adjust = "BH")
DRIFT_Z = 1.645  # |robust z| of a b difference above this flags drift from the bank (Huynh & Meyer, 2010)

PhaseCallback = Callable[[str, int, int], None]
"""``on_phase(phase, done, total)``: progress of a stage after the calibration (``"lr_dif"``)."""


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
    lr_dif: dict[str, Any] | None = None
    bank: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        found = list(self.warnings)
        if math.isfinite(self.sx2_p) and self.sx2_p < SX2_FLAG_P:
            found.append(f"S-X2 misfit (p = {self.sx2_p:.4f})")
        if self.dif and self.dif.strip("+-") in ("C", "CC", "B", "BB"):
            found.append(f"DIF category {self.dif}")
        if self.lr_dif and self.lr_dif["flagged"]:
            found.append(
                f"LR DIF (chi2 = {self.lr_dif['chi2']:.1f}, df = {self.lr_dif['df']}, "
                f"adjusted p = {self.lr_dif['p_adjusted']:.4f})"
            )
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


def benjamini_hochberg(p: Sequence[float]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``); NaN stays NaN.

    Parameters
    ----------
    p : sequence of float, length m

    Returns
    -------
    ndarray of float64, shape (m,)
        ``min(1, min_{k >= i} m p_(k) / k)`` in the original order, over the finite p-values only.
    """
    values = np.asarray(p, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size == 0:
        return out
    order = finite[np.argsort(values[finite])]
    m = order.size
    scaled = values[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def _lr_dif(
    responses: NDArray[np.int64],
    groups: NDArray[Any] | None,
    ids: Sequence[str],
    models: Sequence[str],
    options: Mapping[str, Any],
    on_phase: PhaseCallback | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Likelihood-ratio DIF of every item between all groups (persons without a group left out)."""
    if groups is None:
        return {}, None
    labels = [g for g in dict.fromkeys(groups.tolist()) if g not in ("", None)]
    if len(labels) < 2:
        return {}, {"skipped": f"LR DIF needs at least two groups, found {len(labels)}"}
    keep = np.isin(groups, labels)

    def progress(done: int, total: int) -> None:
        if on_phase is not None:
            on_phase("lr_dif", done, total)

    progress(0, len(ids))
    try:
        result = likelihood_ratio_dif(
            responses[keep],
            groups[keep].astype(str),
            model=list(models),
            item_ids=ids,
            reference_group=str(labels[0]),
            calibrator_options=options,
            on_item=progress,
        )
    except ValueError as exc:  # e.g. an item nobody in one group answered: report, do not fail the run
        return {}, {"skipped": f"LR DIF not computed: {exc}"}
    adjusted = benjamini_hochberg(result.p.tolist())
    found = {
        item: {
            "chi2": float(result.statistic[n]),
            "df": int(result.df[n]),
            "p": float(result.p[n]),
            "p_adjusted": float(adjusted[n]),
            "flagged": bool(np.isfinite(adjusted[n]) and adjusted[n] < LR_DIF_FLAG_P),
        }
        for n, item in enumerate(result.item_ids)
    }
    summary = {
        "groups": [str(g) for g in labels],
        "reference": str(labels[0]),
        "log_likelihood_constrained": result.log_likelihood_constrained,
        "adjustment": "Benjamini-Hochberg",
        "flag_below": LR_DIF_FLAG_P,
        "flagged": [i for i, row in found.items() if row["flagged"]],
    }
    return found, summary


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
    lr_dif: bool = True,
    on_phase: PhaseCallback | None = None,
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
        A group label per person; with exactly two groups every item gets a Mantel-Haenszel DIF category,
        with two or more (and ``lr_dif``) a likelihood-ratio DIF test (chi2, df, p, BH-adjusted p, flag).
    callback : callable, optional
        ``callback(iteration, log_likelihood, max_change)`` per EM iteration (the LR DIF calibrations'
        too); may raise to cancel.
    lr_dif : bool
        Run likelihood-ratio DIF when there are groups: one extra two-group calibration per item.
    on_phase : callable, optional
        ``on_phase("lr_dif", done, total)`` as the LR DIF items are done.

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
    group_array = None if groups is None else np.asarray(groups, dtype=object)
    dif, dif_groups = _dif(x, group_array, ids, models_used)
    lr, lr_summary = (
        _lr_dif(
            x,
            group_array,
            ids,
            models_used,
            {"n_quad": n_quad, "max_iter": max_iter, "tol": tol, "callback": callback},
            on_phase,
        )
        if lr_dif
        else ({}, None)
    )
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
                lr_dif=lr.get(item_id),
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
        "lr_dif": lr_summary,
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


def _stats(pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    if not pairs:
        return {"n": 0, "mean_difference": None, "sd_difference": None, "rmsd": None, "correlation": None}
    new, old = (np.asarray(v, dtype=np.float64) for v in zip(*pairs, strict=True))
    d = new - old
    correlation = (
        float(np.corrcoef(new, old)[0, 1]) if d.size > 2 and np.std(new) > 0 and np.std(old) > 0 else None
    )
    return {
        "n": int(d.size),
        "mean_difference": float(d.mean()),
        "sd_difference": float(d.std(ddof=1)) if d.size > 1 else None,
        "rmsd": float(np.sqrt(np.mean(d * d))),
        "correlation": correlation,
    }


def bank_comparison(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """New estimates against the bank's values for the items that have both (common items).

    Parameters
    ----------
    rows : sequence of mappings
        Items as in ``CalibrationReview.to_dict()["items"]``: ``item_id``, ``a``, ``b``, ``c``, ``se``,
        ``anchored`` and ``bank`` (None for an item without bank values).

    Returns
    -------
    dict
        ``items``: per common item the differences new - bank of a, each threshold b_k (only when both have
        the same number of thresholds) and c, ``z_b = d_b / SE(b)`` and the robust z of each b difference
        ``(d - median d) / (0.74 IQR d)`` over the freely estimated common items (Huynh & Meyer, 2010;
        None with fewer than three), ``drift`` when any ``|robust z| > DRIFT_Z``.
        ``a`` / ``b``: n, mean and SD of the differences, RMSD and the correlation, over the freely
        estimated common items (anchors equal the bank by construction).
    """
    common = [r for r in rows if r.get("bank")]
    items: list[dict[str, Any]] = []
    b_pairs: list[tuple[float, float]] = []
    a_pairs: list[tuple[float, float]] = []
    free_b: list[tuple[int, int, float]] = []  # (item row, threshold, difference) of free items
    for row in common:
        bank = row["bank"]
        new_b = list(row["b"])
        same_shape = len(new_b) == len(bank["b"])
        d_b: list[float | None] = []
        z_b: list[float | None] = []
        se_b = list((row.get("se") or {}).get("b") or [])
        for k, (nb, ob) in enumerate(zip(new_b, bank["b"], strict=False) if same_shape else []):
            if nb is None or ob is None:
                d_b.append(None)
                z_b.append(None)
                continue
            d = float(nb) - float(ob)
            d_b.append(d)
            se = se_b[k] if k < len(se_b) else None
            z_b.append(d / se if se else None)
            if not row["anchored"]:
                b_pairs.append((float(nb), float(ob)))
                free_b.append((len(items), k, d))
        if not row["anchored"] and row["a"] is not None:
            a_pairs.append((float(row["a"]), float(bank["a"])))
        items.append(
            {
                "item_id": row["item_id"],
                "anchored": bool(row["anchored"]),
                "model": row["model"],
                "bank_model": bank["model"],
                "a": row["a"],
                "bank_a": bank["a"],
                "d_a": None if row["a"] is None else float(row["a"]) - float(bank["a"]),
                "b": new_b,
                "bank_b": list(bank["b"]),
                "d_b": d_b,
                "z_b": z_b,
                "robust_z": [None] * len(d_b),
                "c": row["c"],
                "bank_c": bank["c"],
                "d_c": None if row["c"] is None else float(row["c"]) - float(bank["c"]),
                "drift": False,
            }
        )
    if len(free_b) >= 3:
        diffs = np.array([v for _, _, v in free_b])
        q1, q3 = np.percentile(diffs, [25, 75])
        spread = 0.74 * (q3 - q1)
        median = float(np.median(diffs))
        for n, k, value in free_b:
            z = (value - median) / spread if spread > 0 else None
            items[n]["robust_z"][k] = z
            if z is not None and abs(z) > DRIFT_Z:
                items[n]["drift"] = True
    result: dict[str, Any] = _finite(
        {"items": items, "a": _stats(a_pairs), "b": _stats(b_pairs), "drift_z": DRIFT_Z}
    )
    return result
