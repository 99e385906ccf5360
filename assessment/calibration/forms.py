"""Forms of the calibration pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from assessment.calibration.services import KNOWLEDGE_MODELS, SJT_MODELS
from item_bank.review import LINKING_METHODS

LINKING_LABELS = {
    "anchors": _l("Anchor items fixed at bank values"),
    "stocking_lord": _l("Stocking-Lord on common items"),
    "haebara": _l("Haebara on common items"),
    "mean_sigma": _l("Mean-sigma on common items"),
    "mean_mean": _l("Mean-mean on common items"),
    "none": _l("None: a new scale (first calibration)"),
}
DECISION_LABELS = {
    "approve": _l("Approve"),
    "keep_pretesting": _l("Keep pretesting"),
    "retire": _l("Retire"),
}


class DatasetForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    file = FileField(
        _l("Responses (CSV: person_id, then one column per item code; optional group column)"),
        validators=[FileRequired()],
    )


class SessionsDatasetForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    sessions = SelectMultipleField(_l("Exam sessions"), coerce=int, validators=[DataRequired()])


class RunForm(FlaskForm):
    dataset = SelectField(_l("Response data"), coerce=int, validators=[DataRequired()])
    knowledge_model = SelectField(
        _l("Model for knowledge items"),
        default="2pl",
        choices=[SelectChoice(m, m.upper()) for m in KNOWLEDGE_MODELS],
    )
    sjt_model = SelectField(
        _l("Model for SJT items"), default="grm", choices=[SelectChoice(m, m.upper()) for m in SJT_MODELS]
    )
    linking = SelectField(
        _l("Linking to the bank scale"),
        default="anchors",
        choices=[SelectChoice(m, LINKING_LABELS[m]) for m in LINKING_METHODS],
    )
    max_iter = IntegerField(_l("Maximum EM iterations"), default=500, validators=[NumberRange(10, 5000)])
    lr_dif = BooleanField(
        _l("Likelihood-ratio DIF between the groups (one more calibration per item)"), default=True
    )


class DecisionForm(FlaskForm):
    item = HiddenField(validators=[DataRequired()])
    decision = SelectField(_l("Decision"), choices=[SelectChoice(k, v) for k, v in DECISION_LABELS.items()])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class BulkDecisionForm(FlaskForm):
    """One decision with one reason on the items ticked in the review table (choices: the run's proposals)."""

    items = SelectMultipleField(_l("Items"), validators=[DataRequired(_l("Tick at least one item."))])
    decision = SelectField(_l("Decision"), choices=[SelectChoice(k, v) for k, v in DECISION_LABELS.items()])
    reason = StringField(
        _l("Reason"), validators=[DataRequired(_l("Give the reason for the decision.")), Length(max=500)]
    )


class ConfirmForm(FlaskForm):
    """CSRF only."""
