"""Forms of the campaign pages: setting a campaign up, stage weights and minimums, ratings, releases."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    FloatField,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

MAX_STAGES = 5
KIND_LABELS = {"test": _l("a test section"), "rated": _l("rated by the commission")}


class StageForm(FlaskForm):
    class Meta:
        csrf = False  # part of the campaign form, which carries the token

    name = StringField(_l("Stage name"), validators=[Optional(), Length(max=100)])
    kind = SelectField(
        _l("Scored as"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()], default="test"
    )
    weight = FloatField(_l("Published weight"), validators=[Optional(), NumberRange(min=0.0001)])
    section = SelectField(_l("Test section"), choices=[], validate_choice=False)
    criteria = StringField(
        _l("Rated criteria"),
        validators=[Optional(), Length(max=400)],
        description=_l("Comma-separated, e.g. integrity, impartiality, communication"),
    )
    rating_min = IntegerField(_l("Lowest rating"), default=1, validators=[Optional()])
    rating_max = IntegerField(_l("Highest rating"), default=5, validators=[Optional()])
    report_intercept = FloatField(_l("Reported scale: intercept"), default=0.0, validators=[Optional()])
    report_slope = FloatField(_l("Reported scale: slope"), default=1.0, validators=[Optional()])
    report_decimals = IntegerField(
        _l("Decimals reported"), default=2, validators=[Optional(), NumberRange(0, 3)]
    )


class CampaignForm(FlaskForm):
    name = StringField(_l("Campaign name"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    level = FloatField(_l("Confidence level of the bands"), default=0.95, validators=[InputRequired()])
    places = IntegerField(_l("Places to fill"), validators=[Optional(), NumberRange(min=1)])
    members = SelectMultipleField(_l("Commission members"), coerce=int, choices=[])
    stages = FieldList(FormField(StageForm), min_entries=MAX_STAGES, max_entries=MAX_STAGES)


class StageEditForm(FlaskForm):
    weight = FloatField(_l("Published weight"), validators=[InputRequired(), NumberRange(min=0.0001)])
    report_intercept = FloatField(_l("Reported scale: intercept"), validators=[InputRequired()])
    report_slope = FloatField(_l("Reported scale: slope"), validators=[InputRequired()])
    report_decimals = IntegerField(_l("Decimals reported"), validators=[InputRequired(), NumberRange(0, 3)])


class MinimumForm(FlaskForm):
    minimum = FloatField(_l("Minimum on the stage's own scale"), validators=[Optional()])
    reason = TextAreaField(_l("Reason for the minimum"), validators=[Optional(), Length(max=2000)])
    expected_removed = HiddenField()
    action = HiddenField(default="preview")


class RescoreForm(FlaskForm):
    use_approved = BooleanField(_l("Use the parameters approved now (a recalibration)"))
    current_keys = BooleanField(_l("Use the items' current keys (a corrected key)"))
    reason = TextAreaField(_l("Reason for the rescore"), validators=[DataRequired(), Length(max=2000)])


class ReleaseForm(FlaskForm):
    note = TextAreaField(
        _l("Note to the release (kept in the record)"), validators=[Optional(), Length(max=2000)]
    )


class MemberForm(FlaskForm):
    member = SelectField(_l("Commission member"), coerce=int, choices=[])


class EmptyForm(FlaskForm):
    """Only the CSRF token: for buttons that change something."""
