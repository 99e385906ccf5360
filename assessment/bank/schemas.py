"""Schemas of the bank's JSON API, named by direction; unknown fields are refused."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, post_load, validate

from item_bank.items import FORMATS, LANGUAGES, STATUSES, TRANSLATION_STATES, ItemSpec, LanguageVersion


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class LanguageVersionSchema(_Strict):
    stem = fields.String(required=True)
    options = fields.List(fields.String(), required=True)
    state = fields.String(load_default="draft", validate=validate.OneOf(TRANSLATION_STATES))


class ItemIn(_Strict):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    format = fields.String(required=True, validate=validate.OneOf(sorted(FORMATS)))
    status = fields.String(load_default="draft", validate=validate.OneOf(STATUSES))
    domain = fields.String(allow_none=True, load_default=None)
    topic = fields.String(allow_none=True, load_default=None)
    competence = fields.String(allow_none=True, load_default=None)
    tags = fields.List(fields.String(), load_default=list)
    enemies = fields.List(fields.String(), load_default=list)
    stimulus = fields.String(allow_none=True, load_default=None)
    scoring = fields.Dict(load_default=dict)
    key = fields.Dict(required=True, metadata={"description": "per format, see item_bank.items"})
    versions = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGUAGES)),
        values=fields.Nested(LanguageVersionSchema),
        required=True,
    )
    note = fields.String(load_default=None, allow_none=True, load_only=True)

    @post_load
    def to_spec(self, data: dict[str, Any], **_: Any) -> tuple[ItemSpec, str | None]:
        versions = {
            lang: LanguageVersion(v["stem"], tuple(v["options"]), v["state"])
            for lang, v in data["versions"].items()
        }
        spec = ItemSpec(
            code=data["code"],
            format=data["format"],
            versions=versions,
            key=data["key"],
            status=data["status"],
            domain=data["domain"],
            topic=data["topic"],
            competence=data["competence"],
            tags=tuple(data["tags"]),
            enemies=tuple(data["enemies"]),
            stimulus=data["stimulus"],
            scoring=data["scoring"],
        )
        return spec, data["note"]


class ParameterSetOut(Schema):
    id = fields.Integer()
    model = fields.String()
    a = fields.Float()
    b = fields.List(fields.Float())
    c = fields.Float()
    se = fields.Dict()
    provenance = fields.Dict()
    status = fields.Function(lambda p: p.status.value)
    is_demo = fields.Boolean()
    proposed_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class ItemOut(Schema):
    """An item for psychometricians (keys included: this schema never reaches a candidate)."""

    code = fields.String()
    format = fields.String()
    family = fields.String()
    status = fields.String()
    domain = fields.String(allow_none=True)
    topic = fields.String(allow_none=True)
    competence = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    enemies = fields.List(fields.String())
    stimulus = fields.String(allow_none=True)
    scoring = fields.Dict()
    key = fields.Dict()
    versions = fields.Dict(keys=fields.String(), values=fields.Nested(LanguageVersionSchema))
    version = fields.Integer()
    times_administered = fields.Integer()
    is_demo = fields.Boolean()
    parameter_sets = fields.List(fields.Nested(ParameterSetOut))


class ItemQuery(_Strict):
    family = fields.String(validate=validate.OneOf(["knowledge", "sjt"]))
    status = fields.String(validate=validate.OneOf(STATUSES))
    domain = fields.String()
    competence = fields.String()
    tag = fields.String()


class StatusIn(_Strict):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(load_default=None, allow_none=True)


class DecisionIn(_Strict):
    reason = fields.String(load_default=None, allow_none=True)


class ImportReportOut(Schema):
    created = fields.List(fields.String())
    new_versions = fields.List(fields.String())
    updated = fields.List(fields.String())
    unchanged = fields.List(fields.String())
    stimuli_created = fields.List(fields.String())


class StimulusIn(_Strict):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    title = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGUAGES)), values=fields.String(), load_default=dict
    )
    texts = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGUAGES)),
        values=fields.String(),
        required=True,
        metadata={"description": "the case text per language (kk, ru, en)"},
    )
    note = fields.String(load_default=None, allow_none=True, load_only=True)


class StimulusDetailOut(Schema):
    """A shared case at its latest version, with the items whose current version uses it."""

    code = fields.String()
    number = fields.Integer(metadata={"description": "version; a text in use is never changed in place"})
    title = fields.Dict(keys=fields.String(), values=fields.String())
    texts = fields.Dict(keys=fields.String(), values=fields.String())
    change_note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    in_use = fields.Boolean()
    items = fields.List(fields.String())
    versions = fields.List(fields.Integer())


class StimulusItemsIn(_Strict):
    attach = fields.List(fields.String(), load_default=list)
    detach = fields.List(fields.String(), load_default=list)
    note = fields.String(load_default=None, allow_none=True)


class StimulusItemsOut(Schema):
    changed = fields.List(fields.String())
    stimulus = fields.Nested(StimulusDetailOut)
