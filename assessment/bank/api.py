"""The bank's JSON API: the same services as the pages."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import selectinload

from assessment.auth.access import roles_required
from assessment.auth.models import Role
from assessment.bank import repository, services
from assessment.bank.models import Item, ItemFamily, ItemStatus, ParameterSet, Stimulus
from assessment.bank.schemas import (
    DecisionIn,
    ImportReportOut,
    ItemIn,
    ItemOut,
    ItemQuery,
    ParameterSetOut,
    StatusIn,
    StimulusDetailOut,
    StimulusIn,
    StimulusItemsIn,
    StimulusItemsOut,
)
from assessment.extensions import db

bp = Blueprint("api_bank", __name__, url_prefix="/api/v1", description="Item bank (psychometricians)")
only_psychometricians = roles_required(Role.PSYCHOMETRICIAN)


def _out(item: Item) -> dict[str, Any]:
    spec = repository.spec_of(item)
    return {
        **{name: getattr(spec, name) for name in ("code", "format", "family", "status", "domain", "topic")},
        "competence": spec.competence,
        "tags": list(spec.tags),
        "enemies": list(spec.enemies),
        "stimulus": spec.stimulus,
        "scoring": dict(spec.scoring),
        "key": dict(spec.key),
        "versions": {
            lang: {"stem": v.stem, "options": list(v.options), "state": v.state}
            for lang, v in spec.versions.items()
        },
        "version": item.current.number,
        "times_administered": item.times_administered,
        "is_demo": item.is_demo,
        "parameter_sets": item.parameter_sets,
    }


def _item_or_404(code: str) -> Item:
    item = services.find_item(code)
    if item is None:
        abort(404, message=f"no item {code!r}")
    return item


def _bank_error(exc: services.BankError) -> None:
    abort(422, message="the bank refused the change", errors={"problems": exc.problems})


@bp.route("/items")
class ItemsView(MethodView):
    decorators = [only_psychometricians]

    @bp.arguments(ItemQuery, location="query")
    @bp.response(200, ItemOut(many=True))
    def get(self, query: dict[str, str]):
        """Items, filtered like the bank page."""
        select = db.select(Item).options(selectinload(Item.versions), selectinload(Item.parameter_sets))
        if "family" in query:
            select = select.where(Item.family == ItemFamily(query["family"]))
        if "status" in query:
            select = select.where(Item.status == ItemStatus(query["status"]))
        if "domain" in query:
            select = select.where(Item.domain == query["domain"])
        if "competence" in query:
            select = select.where(Item.competence == query["competence"])
        items = db.session.execute(select.order_by(Item.code)).scalars().all()
        if "tag" in query:
            items = [i for i in items if query["tag"] in (i.tags or [])]
        return [_out(i) for i in items]

    @bp.arguments(ItemIn)
    @bp.response(201, ItemOut)
    def post(self, payload: tuple[Any, str | None]):
        """Write a new item."""
        spec, note = payload
        if services.find_item(spec.code) is not None:
            abort(409, message=f"item {spec.code!r} exists; PUT /api/v1/items/{spec.code} changes it")
        try:
            item = services.save_item(spec, actor=current_user._get_current_object(), note=note)
        except services.BankError as exc:
            _bank_error(exc)
        return _out(item)


@bp.route("/items/<code>")
class ItemView(MethodView):
    decorators = [only_psychometricians]

    @bp.response(200, ItemOut)
    def get(self, code: str):
        """One item with its language versions, key and parameter sets."""
        return _out(_item_or_404(code))

    @bp.arguments(ItemIn)
    @bp.response(200, ItemOut)
    def put(self, payload: tuple[Any, str | None], code: str):
        """Change an item: a draft in place, an item in use as a new version."""
        spec, note = payload
        _item_or_404(code)
        if spec.code != code:
            abort(422, message="the code in the body must match the URL", errors={"code": [spec.code]})
        try:
            item = services.save_item(spec, actor=current_user._get_current_object(), note=note)
        except services.BankError as exc:
            _bank_error(exc)
        return _out(item)


@bp.route("/items/<code>/status", methods=["POST"])
@only_psychometricians
@bp.arguments(StatusIn)
@bp.response(200, ItemOut)
def item_status(payload: dict[str, Any], code: str):
    """Move the item through its lifecycle (draft, review, pretest, operational, retired)."""
    item = _item_or_404(code)
    try:
        services.change_status(
            item,
            ItemStatus(payload["status"]),
            actor=current_user._get_current_object(),
            reason=payload["reason"],
        )
    except services.BankError as exc:
        _bank_error(exc)
    return _out(item)


def _parameter_set_or_404(set_id: int) -> ParameterSet:
    row = db.session.get(ParameterSet, set_id)
    if row is None:
        abort(404, message=f"no parameter set {set_id}")
    return row


@bp.route("/parameter-sets/<int:set_id>/approve", methods=["POST"])
@only_psychometricians
@bp.arguments(DecisionIn)
@bp.response(200, ParameterSetOut)
def approve_parameter_set(payload: dict[str, Any], set_id: int):
    """Make proposed parameters operational (a psychometrician other than the proposer)."""
    proposal = _parameter_set_or_404(set_id)
    try:
        return services.approve_parameters(
            proposal, actor=current_user._get_current_object(), reason=payload["reason"]
        )
    except services.BankError as exc:
        _bank_error(exc)


@bp.route("/parameter-sets/<int:set_id>/reject", methods=["POST"])
@only_psychometricians
@bp.arguments(DecisionIn)
@bp.response(200, ParameterSetOut)
def reject_parameter_set(payload: dict[str, Any], set_id: int):
    """Turn proposed parameters down."""
    proposal = _parameter_set_or_404(set_id)
    try:
        services.reject_parameters(
            proposal, actor=current_user._get_current_object(), reason=payload["reason"] or ""
        )
    except services.BankError as exc:
        _bank_error(exc)
    return proposal


@bp.route("/items/import", methods=["POST"])
@only_psychometricians
@bp.response(200, ImportReportOut)
def import_file():
    """Import items from a JSON, CSV (optional multipart ``stimuli``) or QTI zip, sent as multipart ``file``.

    All or nothing: 422 with every problem named by file, line, item and field, and nothing changed.
    """
    upload = request.files.get("file")
    if upload is None:
        abort(422, message="send the file as the multipart field 'file'")
    stimuli = request.files.get("stimuli")
    try:
        return services.import_file(
            upload.read(),
            upload.filename or "upload",
            actor=current_user._get_current_object(),
            stimuli_data=stimuli.read() if stimuli else None,
            stimuli_filename=stimuli.filename if stimuli else None,
        )
    except services.BankError as exc:
        _bank_error(exc)


class ExportQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(sorted(services.EXPORT_FORMATS)))
    family = fields.String(validate=validate.OneOf(["knowledge", "sjt"]))
    status = fields.String()


@bp.route("/items/export")
@only_psychometricians
@bp.arguments(ExportQuery, location="query")
def export_file(query: dict[str, str]):
    """The bank (optionally one family or status) as JSON, CSV, stimuli CSV, QTI 2.1 or QTI 3.0."""
    select = db.select(Item).options(selectinload(Item.versions)).order_by(Item.code)
    if "family" in query:
        select = select.where(Item.family == ItemFamily(query["family"]))
    if query.get("status") in {s.value for s in ItemStatus}:
        select = select.where(Item.status == ItemStatus(query["status"]))
    items = db.session.execute(select).scalars().all()
    content, mimetype, extension = services.export_file(
        items, query["format"], actor=current_user._get_current_object()
    )
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="tandau-items.{extension}"'},
    )


# Shared cases (stimuli)


def _stimulus_out(row: Stimulus) -> dict[str, Any]:
    return {
        "code": row.code,
        "number": row.number,
        "title": dict(row.title or {}),
        "texts": dict(row.texts),
        "change_note": row.change_note,
        "created_at": row.created_at,
        "in_use": services.stimulus_in_use(row),
        "items": [i.code for i in services.items_on(row)],
        "versions": [v.number for v in services.stimulus_versions(row.code)],
    }


def _stimulus_or_404(code: str) -> Stimulus:
    row = services.find_stimulus(code)
    if row is None:
        abort(404, message=f"no stimulus {code!r}")
    return row


@bp.route("/stimuli")
class StimuliView(MethodView):
    decorators = [only_psychometricians]

    @bp.response(200, StimulusDetailOut(many=True))
    def get(self):
        """Shared cases at their latest versions."""
        rows = db.session.execute(db.select(Stimulus).order_by(Stimulus.code, Stimulus.number)).scalars()
        latest = {row.code: row for row in rows}
        return [_stimulus_out(row) for row in latest.values()]

    @bp.arguments(StimulusIn)
    @bp.response(201, StimulusDetailOut)
    def post(self, payload: dict[str, Any]):
        """Write a new shared case."""
        if services.find_stimulus(payload["code"]) is not None:
            abort(409, message=f"stimulus {payload['code']!r} exists; PUT /api/v1/stimuli/{payload['code']}")
        try:
            row = services.save_stimulus(
                payload["code"],
                title=payload["title"],
                texts=payload["texts"],
                actor=current_user._get_current_object(),
                note=payload["note"],
                create=True,
            )
        except services.BankError as exc:
            _bank_error(exc)
        return _stimulus_out(row)


@bp.route("/stimuli/<code>")
class StimulusView(MethodView):
    decorators = [only_psychometricians]

    @bp.response(200, StimulusDetailOut)
    def get(self, code: str):
        """One shared case: its text per language, version, and the items on it."""
        return _stimulus_out(_stimulus_or_404(code))

    @bp.arguments(StimulusIn)
    @bp.response(200, StimulusDetailOut)
    def put(self, payload: dict[str, Any], code: str):
        """Change the text: in place while unused, else a new version that the items move to."""
        _stimulus_or_404(code)
        if payload["code"] != code:
            abort(422, message="the code in the body must match the URL", errors={"code": [payload["code"]]})
        try:
            row = services.save_stimulus(
                code,
                title=payload["title"],
                texts=payload["texts"],
                actor=current_user._get_current_object(),
                note=payload["note"],
            )
        except services.BankError as exc:
            _bank_error(exc)
        return _stimulus_out(row)


@bp.route("/stimuli/<code>/items", methods=["POST"])
@only_psychometricians
@bp.arguments(StimulusItemsIn)
@bp.response(200, StimulusItemsOut)
def stimulus_items(payload: dict[str, Any], code: str):
    """Attach items to the shared case or detach them, all-or-nothing (an item in use gets a new version)."""
    row = _stimulus_or_404(code)
    try:
        changed = services.set_stimulus_items(
            row,
            attach=payload["attach"],
            detach=payload["detach"],
            actor=current_user._get_current_object(),
            note=payload["note"],
        )
    except services.BankError as exc:
        _bank_error(exc)
    return {"changed": changed, "stimulus": _stimulus_out(services.find_stimulus(code) or row)}
