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
    shuffle_options = BooleanField(_l("Shuffle the options"))
    allow_review = BooleanField(_l("Allow review (flag items and go back)"), default=True)

    def is_blank(self) -> bool:
        texts = [getattr(self, f"title_{lang}").data for lang in SECTION_LANGUAGES]
        texts += [self.items.data, self.pretest.data]
        return not any((t or "").strip() for t in texts) and self.minutes.data is None

    def titles(self) -> dict[str, str]:
        found = {lang: (getattr(self, f"title_{lang}").data or "").strip() for lang in SECTION_LANGUAGES}
        return {lang: title for lang, title in found.items() if title}


class DefinitionForm(FlaskForm):
    name = StringField(_l("Name of the test"), validators=[DataRequired(), Length(max=200)])
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
            if not split_codes(section.items.data):
                section.items.errors.append(_l("A fixed section needs at least one item."))
                ok = False
        return ok

    def section_specs(self) -> list[dict[str, Any]]:
        """The sections as :func:`assessment.scheduling.services.create_definition` takes them."""
        specs = []
        for entry in self.used_sections():
            section = entry.form
            config: dict[str, Any] = {"items": split_codes(section.items.data)}
            if pretest := split_codes(section.pretest.data):
                config["pretest"] = pretest
            specs.append(
                {
                    "title": section.titles(),
                    "family": section.family.data,
                    "time_limit_seconds": section.minutes.data * 60,
                    "mode": SelectionMode.FIXED.value,
                    "config": config,
                    "shuffle_options": section.shuffle_options.data,
                    "allow_review": section.allow_review.data,
                }
            )
        return specs


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
