"""Calibration as a JSON API: the same services as the pages."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import RAISE, Schema, fields, validate

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.calibration import jobs, services
from assessment.calibration.models import CalibrationRun, ResponseDataset, RunStatus
from assessment.extensions import db
from item_bank.review import LINKING_METHODS, bank_comparison

bp = Blueprint(
    "api_calibration",
    __name__,
    url_prefix="/api/v1/calibration",
    description="Response data, calibration runs and decisions (psychometricians)",
)
only_psychometricians = roles_required(Role.PSYCHOMETRICIAN)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class DatasetOut(Schema):
    id = fields.Integer()
    name = fields.String()
    source = fields.String()
    item_codes = fields.List(fields.String())
    n_persons = fields.Integer()
    group_label = fields.String(allow_none=True)
    sha256 = fields.String()
    created_at = fields.DateTime()


class FromSessionsIn(_Strict):
    sessions = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1))
    name = fields.String(load_default="")


class RunIn(_Strict):
    dataset = fields.Integer(required=True)
    knowledge_model = fields.String(load_default="2pl", validate=validate.OneOf(services.KNOWLEDGE_MODELS))
    sjt_model = fields.String(load_default="grm", validate=validate.OneOf(services.SJT_MODELS))
    linking = fields.String(load_default="anchors", validate=validate.OneOf(LINKING_METHODS))
    items = fields.List(fields.String(), load_default=None)
    max_iter = fields.Integer(load_default=500, validate=validate.Range(min=10, max=5000))
    lr_dif = fields.Boolean(
        load_default=True,
        metadata={"description": "likelihood-ratio DIF between the data's groups (one calibration per item)"},
    )


def _comparison(run: CalibrationRun) -> dict[str, Any] | None:
    if run.status is not RunStatus.SUCCEEDED or not run.result:
        return None
    return bank_comparison(run.result["items"])


class RunOut(Schema):
    id = fields.Integer()
    dataset_id = fields.Integer()
    status = fields.Function(lambda r: r.status.value)
    settings = fields.Dict()
    progress = fields.Dict()
    error = fields.String(allow_none=True)
    cancel_requested = fields.Boolean()
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    result = fields.Dict(
        allow_none=True,
        metadata={
            "description": "summary and per-item review when succeeded; per item `dif` (Mantel-Haenszel ETS "
            "class) and `lr_dif` (chi2, df, p, p_adjusted, flagged), summary `lr_dif` (groups, reference)"
        },
    )
    comparison = fields.Function(
        _comparison,
        allow_none=True,
        metadata={
            "description": "new estimates against the bank's approved values for the common items: per item "
            "d_a, d_b, d_c, z_b, robust_z and drift; mean, SD, RMSD and correlation of a and b"
        },
    )


class RunSummaryOut(RunOut):
    class Meta:
        exclude = ("result", "comparison")


class RunDecisionIn(_Strict):
    item = fields.String(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(services.DECISIONS))
    reason = fields.String(load_default=None, allow_none=True)


class RunBulkDecisionIn(_Strict):
    items = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    decision = fields.String(required=True, validate=validate.OneOf(services.DECISIONS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class BulkDecisionOut(Schema):
    decision = fields.String()
    reason = fields.String()
    items = fields.List(fields.String())


def _fail(exc: services.CalibrationError) -> None:
    abort(422, message="refused", errors={"problems": exc.problems})


def _run_or_404(run_id: int) -> CalibrationRun:
    run = db.session.get(CalibrationRun, run_id)
    if run is None:
        abort(404, message=f"no calibration run {run_id}")
    return run


@bp.route("/datasets")
class DatasetsView(MethodView):
    decorators = [only_psychometricians]

    @bp.response(200, DatasetOut(many=True))
    def get(self):
        """Stored response data."""
        return (
            db.session.execute(db.select(ResponseDataset).order_by(ResponseDataset.id.desc())).scalars().all()
        )

    @bp.response(201, DatasetOut)
    def post(self):
        """Upload a responses CSV (multipart field ``file``; optional ``name``), wide or long layout."""
        upload = request.files.get("file")
        if upload is None:
            abort(422, message="send the CSV as the multipart field 'file'")
        try:
            return services.import_responses(
                upload.read(),
                upload.filename or "upload.csv",
                name=request.form.get("name", ""),
                actor=current_user._get_current_object(),
            )
        except services.CalibrationError as exc:
            _fail(exc)


@bp.route("/datasets/from-sessions", methods=["POST"])
@only_psychometricians
@bp.arguments(FromSessionsIn)
@bp.response(201, DatasetOut)
def from_sessions(payload: dict[str, Any]):
    """Collect the responses of exam sessions run in Tandau."""
    try:
        return services.dataset_from_sessions(
            payload["sessions"], name=payload["name"], actor=current_user._get_current_object()
        )
    except services.CalibrationError as exc:
        _fail(exc)


@bp.route("/runs")
class RunsView(MethodView):
    decorators = [only_psychometricians]

    @bp.response(200, RunSummaryOut(many=True))
    def get(self):
        """Calibration runs, newest first."""
        return (
            db.session.execute(db.select(CalibrationRun).order_by(CalibrationRun.id.desc())).scalars().all()
        )

    @bp.arguments(RunIn)
    @bp.response(202, RunOut)
    def post(self, payload: dict[str, Any]):
        """Start a calibration in the background; poll the run for progress."""
        dataset = db.session.get(ResponseDataset, payload["dataset"])
        if dataset is None:
            abort(404, message=f"no dataset {payload['dataset']}")
        try:
            run = services.start_run(
                dataset,
                actor=current_user._get_current_object(),
                knowledge_model=payload["knowledge_model"],
                sjt_model=payload["sjt_model"],
                linking=payload["linking"],
                item_codes=payload["items"],
                max_iter=payload["max_iter"],
                lr_dif=payload["lr_dif"],
            )
        except services.CalibrationError as exc:
            _fail(exc)
        jobs.submit(run)
        return run


@bp.route("/runs/<int:run_id>")
@only_psychometricians
@bp.response(200, RunOut)
def get_run(run_id: int):
    """A run: status, live progress, and its review once it has succeeded."""
    return _run_or_404(run_id)


@bp.route("/runs/<int:run_id>/cancel", methods=["POST"])
@only_psychometricians
@bp.response(200, RunOut)
def cancel_run(run_id: int):
    """Ask a run to stop; nothing of it is kept."""
    run = _run_or_404(run_id)
    try:
        services.request_cancel(run, actor=current_user._get_current_object())
    except services.CalibrationError as exc:
        _fail(exc)
    return run


@bp.route("/runs/<int:run_id>/decisions", methods=["POST"])
@only_psychometricians
@bp.arguments(RunDecisionIn)
@bp.response(200, RunSummaryOut)
def decide(payload: dict[str, Any], run_id: int):
    """Approve an item's parameters (another psychometrician than the run's), keep pretesting, or retire."""
    run = _run_or_404(run_id)
    try:
        services.decide(
            run,
            payload["item"],
            payload["decision"],
            actor=current_user._get_current_object(),
            reason=payload["reason"],
        )
    except services.CalibrationError as exc:
        _fail(exc)
    return run


@bp.route("/runs/<int:run_id>/decisions/bulk", methods=["POST"])
@only_psychometricians
@bp.arguments(RunBulkDecisionIn)
@bp.response(200, BulkDecisionOut)
def decide_bulk(payload: dict[str, Any], run_id: int):
    """One decision with one reason on several items, all-or-nothing: 422 naming every refused item."""
    run = _run_or_404(run_id)
    try:
        codes = services.decide_many(
            run,
            payload["items"],
            payload["decision"],
            actor=current_user._get_current_object(),
            reason=payload["reason"],
        )
    except services.CalibrationError as exc:
        _fail(exc)
    return {"decision": payload["decision"], "reason": payload["reason"], "items": codes}
