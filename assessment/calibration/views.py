"""Calibration pages: response data, runs with live progress, and the review with per-item decisions."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.bank.models import ParameterSet
from assessment.calibration import jobs, plots, services
from assessment.calibration.forms import (
    DECISION_LABELS,
    LINKING_LABELS,
    BulkDecisionForm,
    ConfirmForm,
    DatasetForm,
    DecisionForm,
    RunForm,
    SessionsDatasetForm,
)
from assessment.calibration.models import CalibrationRun, ResponseDataset, RunStatus
from assessment.extensions import db
from item_bank.irt.models import ItemParameters
from item_bank.review import DRIFT_Z, bank_comparison

bp = Blueprint("calibration", __name__, url_prefix="/calibration")
only_psychometricians = roles_required(Role.PSYCHOMETRICIAN)


def _run_or_404(run_id: int) -> CalibrationRun:
    run = db.session.get(CalibrationRun, run_id)
    if run is None:
        abort(404)
    return run


def _datasets() -> list[ResponseDataset]:
    return list(db.session.execute(db.select(ResponseDataset).order_by(ResponseDataset.id.desc())).scalars())


def _run_form() -> RunForm:
    form = RunForm()
    form.dataset.choices = [(d.id, f"{d.name} ({d.n_persons} × {len(d.item_codes)})") for d in _datasets()]
    return form


@bp.route("/")
@only_psychometricians
def index():
    """Response data and calibration runs."""
    runs = db.session.execute(
        db.select(CalibrationRun).order_by(CalibrationRun.id.desc()).limit(50)
    ).scalars()
    return render_template(
        "calibration/index.html",
        runs=list(runs),
        datasets=_datasets(),
        dataset_form=DatasetForm(),
        run_form=_run_form(),
        linking_labels=LINKING_LABELS,
        sessions_form=_sessions_form(),
    )


def _store_dataset(make) -> None:  # type: ignore[no-untyped-def]
    """Run one dataset-making service and flash what it stored, or every problem it found."""
    try:
        dataset = make()
    except services.CalibrationError as exc:
        for problem in exc.problems:
            flash(problem, "error")
    else:
        flash(
            _(
                "%(n)d persons × %(k)d items stored as %(name)s.",
                n=dataset.n_persons,
                k=len(dataset.item_codes),
                name=dataset.name,
            ),
            "info",
        )


@bp.route("/datasets", methods=["POST"])
@only_psychometricians
def dataset_upload():
    """Upload response data gathered elsewhere (all-or-nothing: a bad file lists its problems)."""
    form = DatasetForm()
    if form.validate_on_submit():
        upload = form.file.data
        _store_dataset(
            lambda: services.import_responses(
                upload.read(),
                upload.filename or "upload.csv",
                name=form.name.data,
                actor=current_user._get_current_object(),
            )
        )
    else:
        flash(_("Choose a file to upload."), "error")
    return redirect(url_for("calibration.index"))


def _sessions_form() -> SessionsDatasetForm:
    from assessment.delivery.models import ExamSession

    form = SessionsDatasetForm()
    sessions = db.session.execute(db.select(ExamSession).order_by(ExamSession.opens_at.desc())).scalars()
    form.sessions.choices = [(s.id, f"{s.name} ({s.opens_at:%Y-%m-%d})") for s in sessions]
    return form


@bp.route("/datasets/from-sessions", methods=["POST"])
@only_psychometricians
def dataset_from_sessions():
    """Collect the responses of chosen exam sessions as a dataset for calibration."""
    form = _sessions_form()
    if form.validate_on_submit():
        _store_dataset(
            lambda: services.dataset_from_sessions(
                form.sessions.data, name=form.name.data or "", actor=current_user._get_current_object()
            )
        )
    else:
        flash(_("Choose at least one exam session."), "error")
    return redirect(url_for("calibration.index"))


@bp.route("/runs", methods=["POST"])
@only_psychometricians
def run_start():
    """Start a calibration in the background."""
    form = _run_form()
    if not form.validate_on_submit():
        flash(_("The run was not started: check the settings."), "error")
        return redirect(url_for("calibration.index"))
    dataset = db.session.get(ResponseDataset, form.dataset.data)
    try:
        run = services.start_run(
            dataset,
            actor=current_user._get_current_object(),
            knowledge_model=form.knowledge_model.data,
            sjt_model=form.sjt_model.data,
            linking=form.linking.data,
            max_iter=form.max_iter.data,
            lr_dif=form.lr_dif.data,
        )
    except services.CalibrationError as exc:
        for problem in exc.problems:
            flash(problem, "error")
        return redirect(url_for("calibration.index"))
    jobs.submit(run)
    return redirect(url_for("calibration.run_detail", run_id=run.id))


def _progress(run: CalibrationRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status.value,
        "finished": run.status.finished,
        "progress": run.progress or {},
        "error": run.error,
        "cancel_requested": run.cancel_requested,
    }


@bp.route("/runs/<int:run_id>/progress")
@only_psychometricians
def run_progress(run_id: int):
    """Live progress of a run as JSON (the page polls it)."""
    return jsonify(_progress(_run_or_404(run_id)))


@bp.route("/runs/<int:run_id>/cancel", methods=["POST"])
@only_psychometricians
def run_cancel(run_id: int):
    """Ask a running calibration to stop; nothing of it is kept."""
    run = _run_or_404(run_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.request_cancel(run, actor=current_user._get_current_object())
        except services.CalibrationError as exc:
            flash(str(exc), "error")
    return redirect(url_for("calibration.run_detail", run_id=run.id))


def _parameters(rows: list[dict[str, Any]], prefix: str = "") -> ItemParameters:
    """Rows of a stored review (``a``, ``b``, ``c``, ``model``, or ``bank_a``... with ``prefix="bank_"``)."""
    model = "bank_model" if prefix else "model"
    width = max(len(r[f"{prefix}b"]) for r in rows)
    b = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        b[i, : len(r[f"{prefix}b"])] = [np.nan if v is None else v for v in r[f"{prefix}b"]]
    return ItemParameters.from_arrays(
        [r["item_id"] for r in rows],
        [r[model] for r in rows],
        [r[f"{prefix}a"] for r in rows],
        b,
        [r[f"{prefix}c"] for r in rows],
    )


def _estimates(result: dict[str, Any]) -> ItemParameters:
    return _parameters(result["items"])


def _comparison_charts(params: ItemParameters, comparison: dict[str, Any]) -> dict[str, Any]:
    """Per common item the new expected score curve over the bank's; scatters of new against bank a and b."""
    common = comparison["items"]
    if not common:
        return {}
    bank = _parameters(common, prefix="bank_")
    overlays = {
        row["item_id"]: plots.expected_score_comparison(
            params,
            bank,
            row["item_id"],
            title=_("%(code)s: new and bank expected score", code=row["item_id"]),
            x_label=_("Ability (theta)"),
            y_label=_("Expected score"),
            new_label=_("this run"),
            bank_label=_("bank (approved)"),
        )
        for row in common
    }
    free = [row for row in common if not row["anchored"]]
    b_points = [
        plots.Point(
            row["item_id"] if len(row["d_b"]) == 1 else f"{row['item_id']} b{k + 1}",
            row["bank_b"][k],
            row["b"][k],
            highlighted=row["robust_z"][k] is not None and abs(row["robust_z"][k]) > DRIFT_Z,
        )
        for row in free
        for k in range(len(row["d_b"]))
        if row["d_b"][k] is not None
    ]
    a_points = [plots.Point(row["item_id"], row["bank_a"], row["a"]) for row in free if row["a"] is not None]
    charts: dict[str, Any] = {"overlays": overlays}
    if b_points:
        charts["b"] = plots.scatter_chart(
            b_points,
            title=_("Difficulty b: new against bank"),
            x_label=_("bank b"),
            y_label=_("new b"),
            identity_label=_("identity (new = bank)"),
            highlight_label=_("drift (|robust z| > %(z)s)", z=DRIFT_Z),
        )
    if a_points:
        charts["a"] = plots.scatter_chart(
            a_points,
            title=_("Discrimination a: new against bank"),
            x_label=_("bank a"),
            y_label=_("new a"),
            identity_label=_("identity (new = bank)"),
        )
    return charts


@bp.route("/runs/<int:run_id>")
@only_psychometricians
def run_detail(run_id: int):
    """Progress while running; the review (estimates, fit, DIF, plots, decisions) once finished."""
    run = _run_or_404(run_id)
    context: dict[str, Any] = {
        "run": run,
        "progress": _progress(run),
        "confirm": ConfirmForm(),
        "linking_labels": LINKING_LABELS,
    }
    if run.status is RunStatus.SUCCEEDED and run.result:
        params = _estimates(run.result)
        charts = {
            row["item_id"]: plots.item_characteristic_curves(
                params,
                row["item_id"],
                title=_("Item characteristic curves of %(code)s", code=row["item_id"]),
                x_label=_("Ability (theta)"),
                y_label=_("Probability"),
                category_label=_("score"),
            )
            for row in run.result["items"]
        }
        proposals = {
            row["item_id"]: db.session.get(ParameterSet, row["parameter_set"])
            for row in run.result["items"]
            if "parameter_set" in row
        }
        comparison = bank_comparison(run.result["items"])
        context.update(
            result=run.result,
            charts=charts,
            comparison=comparison,
            comparison_charts=_comparison_charts(params, comparison),
            drift_z=DRIFT_Z,
            proposals=proposals,
            decision_labels=DECISION_LABELS,
            decision_form=DecisionForm(),
            bulk_form=BulkDecisionForm(),
            is_creator=run.created_by_id == current_user.id,
            test_information=plots.information_chart(
                params,
                None,
                title=_("Test information"),
                x_label=_("Ability (theta)"),
                y_label=_("Information"),
                test_label=_("all calibrated items"),
            ),
            item_information=plots.information_chart(
                params,
                list(params.item_ids[:7]),
                title=_("Item information (first items)"),
                x_label=_("Ability (theta)"),
                y_label=_("Information"),
                test_label="",
            ),
            sem=plots.sem_chart(
                params,
                title=_("Conditional standard error of measurement"),
                x_label=_("Ability (theta)"),
                y_label=_("SEM"),
                label=_("all calibrated items"),
            ),
        )
    return render_template("calibration/run.html", **context)


@bp.route("/runs/<int:run_id>/decisions", methods=["POST"])
@only_psychometricians
def run_decide(run_id: int):
    """Record a decision on one item: approve (a second psychometrician), keep pretesting, or retire."""
    run = _run_or_404(run_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.decide(
                run,
                form.item.data,
                form.decision.data,
                actor=current_user._get_current_object(),
                reason=form.reason.data or None,
            )
        except services.CalibrationError as exc:
            flash("; ".join(exc.problems), "error")
        else:
            flash(
                _(
                    "%(code)s: %(decision)s recorded.",
                    code=form.item.data,
                    decision=DECISION_LABELS[form.decision.data],
                ),
                "info",
            )
    return redirect(url_for("calibration.run_detail", run_id=run.id, _anchor=f"item-{form.item.data}"))


@bp.route("/runs/<int:run_id>/decisions/bulk", methods=["POST"])
@only_psychometricians
def run_decide_bulk(run_id: int):
    """One decision with one reason on every ticked item, all-or-nothing (approving still needs four eyes)."""
    run = _run_or_404(run_id)
    form = BulkDecisionForm()
    rows = (run.result or {}).get("items", []) if run.status is RunStatus.SUCCEEDED else []
    form.items.choices = [SelectChoice(r["item_id"], r["item_id"]) for r in rows if "parameter_set" in r]
    if not form.validate_on_submit():
        for name, errors in form.errors.items():
            label = getattr(form, name).label.text if hasattr(form, name) else name
            flash(f"{label}: {' '.join(str(e) for e in errors)}", "error")
        return redirect(url_for("calibration.run_detail", run_id=run.id, _anchor="decisions"))
    try:
        codes = services.decide_many(
            run,
            form.items.data,
            form.decision.data,
            actor=current_user._get_current_object(),
            reason=form.reason.data,
        )
    except services.CalibrationError as exc:
        flash(_("Nothing was changed:") + " " + "; ".join(exc.problems), "error")
    else:
        flash(
            _(
                "%(decision)s recorded for %(n)d items: %(codes)s.",
                decision=DECISION_LABELS[form.decision.data],
                n=len(codes),
                codes=", ".join(codes),
            ),
            "info",
        )
    return redirect(url_for("calibration.run_detail", run_id=run.id, _anchor="decisions"))
