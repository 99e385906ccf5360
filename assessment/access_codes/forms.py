"""The administrator's form for issuing access codes."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, SubmitField


class IssueCodesForm(FlaskForm):
    # choices are the session's registrations, set by the view; rendered as one checkbox per table row
    registrations = SelectMultipleField(_l("Candidates"), coerce=int, validate_choice=True)
    issue_selected = SubmitField(_l("Issue codes for the selected candidates"))
    issue_all = SubmitField(_l("Issue codes for every candidate"))
