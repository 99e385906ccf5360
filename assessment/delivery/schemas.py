"""Candidate-facing schemas: allow-lists; none can carry a key, a scoring rule or an item parameter."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class CheckInIn(_Strict):
    client_token = fields.String(required=True, validate=validate.Length(min=8, max=64))


class AnswerIn(_Strict):
    item = fields.String(required=True, validate=validate.Length(min=1, max=40))
    response = fields.Dict(
        required=True,
        allow_none=True,
        metadata={
            "description": "single_best {choice}, sjt_rate {ratings}, sjt_most_least {most, least}, sjt_rank "
            "{rank}; option indices are positions as displayed; null clears the answer"
        },
    )
    flagged = fields.Boolean(load_default=None, allow_none=True)
    seq = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "increases with every change the browser makes"},
    )
    key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "idempotency key: a retry sends the same key"},
    )


class NextIn(_Strict):
    item = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the adaptive question on screen, whose saved answer is committed"},
    )


class SaveOut(Schema):
    item = fields.String()
    seq = fields.Integer()
    current_seq = fields.Integer()
    applied = fields.Boolean(metadata={"description": "false when a newer answer was already stored"})
    replayed = fields.Boolean(metadata={"description": "true when this key was seen before"})


class SignalIn(_Strict):
    signal = fields.String(required=True)
    detail = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class StimulusOut(Schema):
    title = fields.String(allow_none=True)
    text = fields.String()


class SittingItemOut(Schema):
    """An item as the candidate sees it: text and options in display order, and their own answer."""

    code = fields.String()
    format = fields.String()
    stem = fields.String()
    options = fields.List(fields.String())
    stimulus = fields.Nested(StimulusOut, allow_none=True)
    answer = fields.Dict(allow_none=True)
    seq = fields.Integer(allow_none=True)
    flagged = fields.Boolean()


class SectionOut(Schema):
    position = fields.Integer()
    title = fields.String()
    state = fields.String()
    allow_review = fields.Boolean()
    adaptive = fields.Boolean(metadata={"description": "one question at a time, no going back"})
    n_items = fields.Integer(metadata={"description": "adaptive sections: the questions shown so far"})
    remaining_seconds = fields.Float()


class SittingOut(Schema):
    state = fields.String()
    candidate_code = fields.String()
    session = fields.String()
    language = fields.String()
    large_text = fields.Boolean()
    instructions = fields.String(allow_none=True)
    current_section = fields.Integer()
    remaining_seconds = fields.Float(
        allow_none=True, metadata={"description": "of the open section, by the server"}
    )
    grace_seconds = fields.Integer()
    question_number = fields.Integer(
        allow_none=True, metadata={"description": "adaptive sections: the number of the question shown"}
    )
    view_version = fields.String(
        metadata={
            "description": "changes whenever this view changes other than by the clock or the candidate's "
            "own saves (state, section, adaptive step, pauses, extensions, a proctor's release); opaque"
        }
    )
    sections = fields.List(fields.Nested(SectionOut))
    items = fields.List(fields.Nested(SittingItemOut))


class PulseOut(Schema):
    """The heartbeat's answer: the state and the server's clock, no item; compare ``view_version``."""

    state = fields.String()
    current_section = fields.Integer()
    remaining_seconds = fields.Float(
        allow_none=True, metadata={"description": "of the open section, by the server"}
    )
    server_time = fields.DateTime(metadata={"description": "the database clock (UTC)"})
    view_version = fields.String(
        metadata={
            "description": "when it differs from the view the page holds, GET /api/v1/sitting for the "
            "new view"
        }
    )
