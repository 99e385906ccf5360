"""Forms of the administrators' scheduling pages: tests, sessions, registrations and accommodations."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FieldList,
    FloatField,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import NumberInput

from assessment.config import LANGUAGES
from assessment.delivery.models import AttemptState, SelectionMode
from assessment.scheduling.services import MAX_EXTRA_TIME, MIN_EXTRA_TIME, NOTE_MAX, Accommodations

MAX_SECTIONS = 4
SECTION_LANGUAGES = ("kk", "ru", "en")
FAMILY_LABELS = {"knowledge": _l("Legal knowledge"), "sjt": _l("Situational judgement")}
SCORING_LABELS = {
    "eap": _l("EAP: expected a posteriori (recommended)"),
    "map": _l("MAP: maximum a posteriori"),
    "ml": _l("ML: maximum likelihood"),
    "wle": _l("WLE: weighted likelihood"),
}
MODE_LABELS = {
    SelectionMode.FIXED: _l("fixed form"),
    SelectionMode.LOFT: _l("assembled for each candidate"),
    SelectionMode.CAT: _l("adaptive"),
}
STATE_LABELS = {
    AttemptState.SCHEDULED: _l("not admitted"),
    AttemptState.ADMITTED: _l("admitted"),
    AttemptState.IN_PROGRESS: _l("in progress"),
    AttemptState.PAUSED: _l("paused"),
    AttemptState.SUBMITTED: _l("submitted"),
    AttemptState.TERMINATED: _l("terminated"),
}
LANGUAGE_CHOICES = [SelectChoice(code, name) for code, name in LANGUAGES.items()]
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


SELECTION_LABELS = {
    "max_info": _l("most informative question"),
    "randomesque": _l("one of the 5 most informative, at random"),
    "sympson_hetter": _l("most informative, with exposure control"),
}


def parse_targets(text: str | None) -> dict[str, int]:
    """Content targets written as "civil: 4, criminal: 3" (categories and their item counts)."""
    targets: dict[str, int] = {}
    for part in re.split(r"[,;\n]+", text or ""):
        if not part.strip():
            continue
        match = re.fullmatch(r"\s*([\w-]+)\s*[:=]\s*(\d+)\s*", part)
        if match is None:
            raise ValueError(part.strip())
        targets[match.group(1)] = int(match.group(2))
    return targets


def split_codes(text: str | None) -> list[str]:
    """Item codes separated by spaces, commas, semicolons or new lines, in the order given."""
    return [code for code in re.split(r"[\s,;]+", text or "") if code]


class SectionForm(FlaskForm):
    """One section of a test (a sub-form: the outer form carries the CSRF token)."""

    class Meta:
        csrf = False

    title_kk = StringField(_l("Title in Kazakh"), validators=[Optional(), Length(max=200)])
    title_ru = StringField(_l("Title in Russian"), validators=[Optional(), Length(max=200)])
    title_en = StringField(_l("Title in English"), validators=[Optional(), Length(max=200)])
    family = SelectField(
        _l("Item family"), choices=[SelectChoice(k, v) for k, v in FAMILY_LABELS.items()], default="knowledge"
    )
    mode = SelectField(
        _l("Delivery"),
        choices=[SelectChoice(m.value, MODE_LABELS[m]) for m in (SelectionMode.FIXED, SelectionMode.CAT)],
        default=SelectionMode.FIXED.value,
    )
    minutes = IntegerField(
        _l("Time limit, minutes"),
        validators=[Optional(), NumberRange(min=1, max=600)],
        widget=NumberInput(min=1),
    )
    items = TextAreaField(
        _l("Items, in order"),
        validators=[Optional(), Length(max=20000)],
        description=_l(
            "Codes of operational items of this family, separated by spaces, commas or new lines."
        ),
        render_kw={"rows": 3},
    )
    pretest = TextAreaField(
        _l("Pretest items (shown after the others, not scored)"),
        validators=[Optional(), Length(max=20000)],
        render_kw={"rows": 2},
    )
    max_length = IntegerField(
        _l("Adaptive: at most this many questions"),
        validators=[Optional(), NumberRange(min=1, max=500)],
        widget=NumberInput(min=1),
    )
    target_se = FloatField(
        _l("Adaptive: stop once the standard error is at most"),
        validators=[Optional(), NumberRange(min=0.05, max=2.0)],
        widget=NumberInput(step="0.01", min=0.05, max=2.0),
    )
    selection = SelectField(
        _l("Adaptive: how the next question is chosen"),
        choices=[SelectChoice(k, v) for k, v in SELECTION_LABELS.items()],
        default="max_info",
    )
    content_targets = TextAreaField(
        _l("Adaptive: content targets"),
        validators=[Optional(), Length(max=2000)],
        description=_l(
            'Domains or competences with their share in questions, e.g. "civil: 4, criminal: 3"; leave '
            "empty for no content balancing."
        ),
        render_kw={"rows": 2},
    )
    shuffle_options = BooleanField(_l("Shuffle the options"))
    allow_review = BooleanField(_l("Allow review (flag items and go back)"), default=True)

    def is_blank(self) -> bool:
        texts = [getattr(self, f"title_{lang}").data for lang in SECTION_LANGUAGES]
        texts += [self.items.data, self.pretest.data, self.content_targets.data]
        return not any((t or "").strip() for t in texts) and self.minutes.data is None

    def titles(self) -> dict[str, str]:
        found = {lang: (getattr(self, f"title_{lang}").data or "").strip() for lang in SECTION_LANGUAGES}
        return {lang: title for lang, title in found.items() if title}


class DefinitionForm(FlaskForm):
    name = StringField(_l("Name of the test"), validators=[DataRequired(), Length(max=200)])
    scoring_method = SelectField(
        _l("Scoring method"),
        choices=[SelectChoice(code, label) for code, label in SCORING_LABELS.items()],
        default="eap",
        description=_l("How theta and its SE are estimated when a section closes."),
    )
    sections = FieldList(FormField(SectionForm), min_entries=MAX_SECTIONS, max_entries=MAX_SECTIONS)

    def used_sections(self) -> list[Any]:
        """The filled-in section sub-forms, in order (blank ones are left out)."""
        return [entry for entry in self.sections if not entry.form.is_blank()]

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        used = self.used_sections()
        if not used:
            self.form_errors.append(_l("Fill in at least one section."))
            return False
        for entry in used:
            section = entry.form
            if not section.titles():
                section.title_en.errors.append(_l("Give the section a title in at least one language."))
                ok = False
            if section.minutes.data is None and not section.minutes.errors:
                section.minutes.errors.append(_l("Give the time limit in minutes."))
                ok = False
            if section.mode.data == SelectionMode.CAT.value:
                if not self._validate_adaptive(section):
                    # FieldList lists only the entries that failed their own validators: add this one
                    self.sections.errors.append(section.errors)
                    ok = False
            elif not split_codes(section.items.data):
                section.items.errors.append(_l("A fixed section needs at least one item."))
                ok = False
        return ok

    @staticmethod
    def _validate_adaptive(section: SectionForm) -> bool:
        ok = True
        if split_codes(section.items.data) or split_codes(section.pretest.data):
            section.items.errors.append(
                _l("An adaptive section chooses its own items: leave the lists empty.")
            )
            ok = False
        if section.max_length.data is None and not section.max_length.errors:
            section.max_length.errors.append(_l("Give the largest number of questions."))
            ok = False
        try:
            parse_targets(section.content_targets.data)
        except ValueError as exc:
            section.content_targets.errors.append(
                _l("Write each target as category: number, not %(part)s.", part=str(exc))
            )
            ok = False
        return ok

    def section_specs(self) -> list[dict[str, Any]]:
        """The sections as :func:`assessment.scheduling.services.create_definition` takes them."""
        specs = []
        for entry in self.used_sections():
            section = entry.form
            adaptive = section.mode.data == SelectionMode.CAT.value
            config: dict[str, Any] = {"items": split_codes(section.items.data)}
            if pretest := split_codes(section.pretest.data):
                config["pretest"] = pretest
            if adaptive:
                config = _adaptive_config(section)
            specs.append(
                {
                    "title": section.titles(),
                    "family": section.family.data,
                    "time_limit_seconds": section.minutes.data * 60,
                    "mode": section.mode.data,
                    "config": config,
                    "shuffle_options": section.shuffle_options.data,
                    "allow_review": section.allow_review.data and not adaptive,
                }
            )
        return specs


def _adaptive_config(section: SectionForm) -> dict[str, Any]:
    """The section's CAT design (:class:`item_bank.assembly.CATDesign` as a dict)."""
    stop: dict[str, float] = {"max_length": section.max_length.data}
    if section.target_se.data is not None:
        stop["target_se"] = section.target_se.data
    config: dict[str, Any] = {"selection": section.selection.data, "stop": stop}
    if targets := parse_targets(section.content_targets.data):
        config["blueprint"] = {"counts": targets}
    return config


class SessionForm(FlaskForm):
    definition = SelectField(_l("Test"), coerce=int, validate_choice=True)
    name = StringField(_l("Name of the session"), validators=[DataRequired(), Length(max=200)])
    opens_at = DateTimeLocalField(_l("Opens at (UTC)"), validators=[DataRequired()], format=DATETIME_FORMATS)
    closes_at = DateTimeLocalField(
        _l("Closes at (UTC)"), validators=[DataRequired()], format=DATETIME_FORMATS
    )
    proctors = SelectMultipleField(
        _l("Proctors"),
        coerce=int,
        validators=[DataRequired(message=_l("Choose at least one proctor."))],
        description=_l("Hold Ctrl (or Cmd) to choose several."),
    )

    def validate_closes_at(self, field: DateTimeLocalField) -> None:
        if self.opens_at.data and field.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("The session must close after it opens."))


class _AccommodationFields(FlaskForm):
    language = SelectField(_l("Language of the test"), choices=LANGUAGE_CHOICES, default="ru")
    extra_time_factor = FloatField(
        _l("Extra time factor"),
        validators=[InputRequired(), NumberRange(min=MIN_EXTRA_TIME, max=MAX_EXTRA_TIME)],
        default=1.0,
        widget=NumberInput(step="0.05", min=MIN_EXTRA_TIME, max=MAX_EXTRA_TIME),
        description=_l("1.0 is the standard time; 1.5 gives 50% more time on every section."),
    )
    large_text = BooleanField(_l("Large text"))
    breaks_allowed = BooleanField(_l("Breaks allowed"))
    note = TextAreaField(
        _l("Accommodation note"), validators=[Optional(), Length(max=NOTE_MAX)], render_kw={"rows": 2}
    )

    def accommodations(self) -> Accommodations:
        return Accommodations(
            language=self.language.data,
            extra_time_factor=float(self.extra_time_factor.data),
            large_text=bool(self.large_text.data),
            breaks_allowed=bool(self.breaks_allowed.data),
            note=(self.note.data or "").strip() or None,
        )


class RegisterForm(_AccommodationFields):
    candidate = SelectField(_l("Candidate account"), validate_choice=True)
    username = StringField(_l("User name"), validators=[Optional(), Length(max=80)])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    email = EmailField(
        _l("E-mail"), validators=[Optional(), Email(check_deliverability=False), Length(max=254)]
    )
    password = PasswordField(_l("Initial password"), validators=[Optional(), Length(min=10, max=1024)])

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not self.candidate.data:
            for name in ("username", "full_name", "password"):
                if not (getattr(self, name).data or "").strip():
                    getattr(self, name).errors.append(_l("Required for a new account."))
                    ok = False
        return ok


class AccommodationsForm(_AccommodationFields):
    pass


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
