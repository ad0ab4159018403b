"""The customer pages' forms (Flask-WTF: every one carries and checks a CSRF token).

Field names are a public contract (README: Customer pages): `decision`,
`authorize_delegated_admin`, `make_partner_of_record`, `confirm_replace_delegated_admin`,
`accept_terms`.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Email, Length


class DecisionForm(FlaskForm):  # type: ignore[misc]
    """Accept or decline an invitation, with separate DA and POR choices."""

    decision = StringField(validators=[DataRequired(), AnyOf(["accept", "decline"])])
    authorize_delegated_admin = BooleanField()
    make_partner_of_record = BooleanField()
    confirm_replace_delegated_admin = BooleanField()
    auto_extend_delegated_admin = BooleanField()  # offered only for grants without full access
    # "I accept these terms": needed to accept a priced offer. What a script might send for
    # "not ticked" ("0", "off", "no") must not be recorded as the customer's acceptance.
    accept_terms = BooleanField(false_values=(False, "false", "", "0", "off", "no"))
    # The DA partner the page showed: a replacement is confirmed for that partner only.
    seen_delegated_admin = HiddenField()


class SignInForm(FlaskForm):  # type: ignore[misc]
    """Ask for a sign-in link."""

    email = EmailField(validators=[DataRequired(), Email(), Length(max=254)])


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that only needs its CSRF token (use a sign-in link, sign out)."""


class RevokeDelegatedAdminForm(FlaskForm):  # type: ignore[misc]
    """Revoke the DA partner the page showed."""

    partner = HiddenField(validators=[DataRequired()])
    confirm = BooleanField()  # the second step: the customer confirms the partner's access ends


class PartnerOfRecordForm(FlaskForm):  # type: ignore[misc]
    """Name a partner of record from those the customer worked with, or clear it."""

    partner = SelectField(choices=[], validate_choice=True)
    action = StringField(validators=[DataRequired(), AnyOf(["set", "clear"])])
    confirm_clear = BooleanField()  # clearing asks for this confirmation
