"""Authoring and import forms of the item bank."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import FormField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from assessment.bank.models import ItemFormat, ItemStatus
from item_bank.items import ItemSpec, LanguageVersion, format_key, parse_key

FORMAT_LABELS = {
    ItemFormat.SINGLE_BEST: _l("Single best answer (knowledge)"),
    ItemFormat.SJT_RATE: _l("Rate the effectiveness of each option (SJT)"),
    ItemFormat.SJT_MOST_LEAST: _l("Most and least effective (SJT)"),
    ItemFormat.SJT_RANK: _l("Rank the options (SJT)"),
}
STATUS_LABELS = {
    ItemStatus.DRAFT: _l("draft"),
    ItemStatus.REVIEW: _l("in review"),
    ItemStatus.PRETEST: _l("pretest"),
    ItemStatus.OPERATIONAL: _l("operational"),
    ItemStatus.RETIRED: _l("retired"),
}
TRANSLATION_STATE_LABELS = {"draft": _l("draft"), "translated": _l("translated"), "reviewed": _l("reviewed")}
LANGUAGE_ORDER = ("kk", "ru", "en")


class LanguageVersionForm(FlaskForm):
    class Meta:
        csrf = False  # a sub-form: the outer form carries the token

    stem = TextAreaField(_l("Stem"), validators=[Optional(), Length(max=20000)], render_kw={"rows": 4})
    options = TextAreaField(
        _l("Options, one per line"), validators=[Optional(), Length(max=20000)], render_kw={"rows": 5}
    )
    state = SelectField(
        _l("Translation"), choices=[SelectChoice(k, v) for k, v in TRANSLATION_STATE_LABELS.items()]
    )


class ItemForm(FlaskForm):
    code = StringField(
        _l("Item code"),
        validators=[DataRequired(), Length(max=40), Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")],
    )
    format = SelectField(
        _l("Format"), choices=[SelectChoice(f.value, label) for f, label in FORMAT_LABELS.items()]
    )
    status = SelectField(
        _l("Status"), choices=[SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()]
    )
    domain = StringField(_l("Legal domain"), validators=[Optional(), Length(max=60)])
    topic = StringField(_l("Topic"), validators=[Optional(), Length(max=120)])
    competence = StringField(_l("Judicial competence"), validators=[Optional(), Length(max=60)])
    tags = StringField(_l("Tags, separated by commas"), validators=[Optional(), Length(max=500)])
    enemies = StringField(
        _l("Enemy items (codes, separated by commas)"), validators=[Optional(), Length(max=500)]
    )
    stimulus = StringField(_l("Shared case (stimulus code)"), validators=[Optional(), Length(max=40)])
    key = StringField(
        _l("Key"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("B · 1 4 2 3 (ratings) · most=B least=D · 2 1 4 3 (rank of each option)"),
    )
    note = StringField(_l("What changed and why"), validators=[Optional(), Length(max=500)])
    kk = FormField(LanguageVersionForm, label="Қазақша")
    ru = FormField(LanguageVersionForm, label="Русский")
    en = FormField(LanguageVersionForm, label="English")


class ImportForm(FlaskForm):
    file = FileField(_l("File (JSON, CSV or a QTI 2.1 / 3.0 zip package)"), validators=[FileRequired()])
    stimuli = FileField(_l("Shared cases (CSV, only with an items CSV)"))
    # What packages from other QTI tools (TAO...) do not say about their items
    default_language = SelectField(
        _l("Language of items that do not state one (QTI)"),
        choices=[SelectChoice(lang, lang) for lang in LANGUAGE_ORDER],
        default="ru",
    )
    default_domain = StringField(
        _l("Legal domain for knowledge items without one (QTI)"), validators=[Optional(), Length(max=60)]
    )
    default_competence = StringField(
        _l("Judicial competence for SJT items without one (QTI)"), validators=[Optional(), Length(max=60)]
    )


class DecisionForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class StatusForm(FlaskForm):
    status = SelectField(
        _l("New status"), choices=[SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()]
    )
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class StimulusLanguageForm(FlaskForm):
    class Meta:
        csrf = False  # a sub-form: the outer form carries the token

    title = StringField(_l("Title"), validators=[Optional(), Length(max=300)])
    text = TextAreaField(_l("Case text"), validators=[Optional(), Length(max=50000)], render_kw={"rows": 8})


class StimulusForm(FlaskForm):
    code = StringField(
        _l("Code of the shared case"),
        validators=[DataRequired(), Length(max=40), Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")],
    )
    note = StringField(_l("What changed and why"), validators=[Optional(), Length(max=500)])
    kk = FormField(StimulusLanguageForm, label="Қазақша")
    ru = FormField(StimulusLanguageForm, label="Русский")
    en = FormField(StimulusLanguageForm, label="English")


class StimulusItemsForm(FlaskForm):
    attach = StringField(
        _l("Attach items (codes, separated by commas)"), validators=[Optional(), Length(max=2000)]
    )
    detach = HiddenField()
    note = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


def stimulus_fields(form: StimulusForm) -> tuple[dict[str, str], dict[str, str]]:
    """(titles, texts) per language from the form; empty languages are left out by the service."""
    titles = {lang: form[lang].title.data or "" for lang in LANGUAGE_ORDER}
    texts = {lang: form[lang].text.data or "" for lang in LANGUAGE_ORDER}
    return titles, texts


def split_codes(text: str | None) -> tuple[str, ...]:
    return _split(text)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def spec_from_form(form: ItemForm) -> ItemSpec:
    """The item the form describes; a language with an empty stem and no options is left out.

    Raises ``ValueError`` for a key that cannot be read (the field says what it expects).
    """
    versions = {}
    for lang in LANGUAGE_ORDER:
        sub = getattr(form, lang)
        options = tuple(line.strip() for line in (sub.options.data or "").splitlines() if line.strip())
        if (sub.stem.data or "").strip() or options:
            versions[lang] = LanguageVersion(
                stem=sub.stem.data.strip(), options=options, state=sub.state.data
            )
    return ItemSpec(
        code=form.code.data.strip(),
        format=form.format.data,
        versions=versions,
        key=parse_key(form.format.data, form.key.data),
        status=form.status.data,
        domain=form.domain.data.strip() or None,
        topic=form.topic.data.strip() or None,
        competence=form.competence.data.strip() or None,
        tags=_split(form.tags.data),
        enemies=_split(form.enemies.data),
        stimulus=form.stimulus.data.strip() or None,
    )


def form_data_of(spec: ItemSpec) -> dict[str, object]:
    data: dict[str, object] = {
        "code": spec.code,
        "format": spec.format,
        "status": spec.status,
        "domain": spec.domain or "",
        "topic": spec.topic or "",
        "competence": spec.competence or "",
        "tags": ", ".join(spec.tags),
        "enemies": ", ".join(spec.enemies),
        "stimulus": spec.stimulus or "",
        "key": format_key(spec.format, spec.key),
    }
    for lang, version in spec.versions.items():
        data[lang] = {"stem": version.stem, "options": "\n".join(version.options), "state": version.state}
    return data
