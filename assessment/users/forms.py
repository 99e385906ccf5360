"""Account forms for administrators."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from assessment.auth.models import Role
from assessment.config import LANGUAGES

ROLE_LABELS = {
    Role.ADMINISTRATOR: _l("Administrator"),
    Role.PSYCHOMETRICIAN: _l("Psychometrician"),
    Role.PROCTOR: _l("Proctor"),
    Role.CANDIDATE: _l("Candidate"),
    Role.COMMISSION: _l("Commission member"),
}


class _AccountFields(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(
        _l("E-mail"), validators=[Optional(), Email(check_deliverability=False), Length(max=254)]
    )
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()])
    language = SelectField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()]
    )


class CreateUserForm(_AccountFields):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(min=10, max=1024)])


class EditUserForm(_AccountFields):
    active = BooleanField(_l("Account enabled"))


class SetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=10, max=1024)])


class ConfirmForm(FlaskForm):
    """A bare form: its CSRF token protects one-button actions."""
